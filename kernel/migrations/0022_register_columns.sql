-- The columns of Decree 30/2020's register forms (Appendix IV: số và ký hiệu, ngày tháng,
-- tên loại, tác giả, người ký, hạn giải quyết), read from the edXML header at registration
-- (connectors/registers.py), and when an incoming entry was revoked by its sender.
-- Texts are bounded as the connector bounds them (registers.LIMITS), dates are NULL when the
-- sender wrote one no layout of the edXML parser reads.
ALTER TABLE incoming_register
    ADD COLUMN code_number    text,
    ADD COLUMN code_notation  text,
    ADD COLUMN promulgated_on date,
    ADD COLUMN document_type  text,
    ADD COLUMN signer         text,
    ADD COLUMN due_date       date,
    ADD COLUMN author         text,
    ADD COLUMN revoked_at     timestamptz;

ALTER TABLE outgoing_register
    ADD COLUMN code_number    text,
    ADD COLUMN code_notation  text,
    ADD COLUMN promulgated_on date,
    ADD COLUMN document_type  text,
    ADD COLUMN signer         text,
    ADD COLUMN due_date       date,
    ADD COLUMN author         text;

-- A clerk searches a unit's register by number, by notation and by a period.
CREATE INDEX incoming_register_notation_idx ON incoming_register (unit, code_notation);
CREATE INDEX incoming_register_code_number_idx ON incoming_register (unit, code_number);
CREATE INDEX incoming_register_received_idx ON incoming_register (unit, received_at);
CREATE INDEX outgoing_register_notation_idx ON outgoing_register (unit, code_notation);
CREATE INDEX outgoing_register_code_number_idx ON outgoing_register (unit, code_number);
CREATE INDEX outgoing_register_created_idx ON outgoing_register (unit, created_at);

-- Backfill. The helpers below exist only for this migration and are dropped at its end.

-- A date as the edXML parser reads one (yyyy/MM/dd, dd/MM/yyyy, with / or -), else NULL.
CREATE FUNCTION pg_temp.register_date(raw text) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parts text[];
BEGIN
    parts := regexp_match(raw, '^(\d{4})([/-])(\d{1,2})\2(\d{1,2})$');
    IF parts IS NOT NULL THEN
        RETURN make_date(parts[1]::int, parts[3]::int, parts[4]::int);
    END IF;
    parts := regexp_match(raw, '^(\d{1,2})([/-])(\d{1,2})\2(\d{4})$');
    IF parts IS NOT NULL THEN
        RETURN make_date(parts[4]::int, parts[3]::int, parts[1]::int);
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Trimmed, at most `limit_` characters, empty as NULL (as registers._bounded does).
CREATE FUNCTION pg_temp.register_text(raw text, limit_ integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(btrim(left(btrim(raw, E' \t\r\n'), limit_), E' \t\r\n'), '')
$$;

-- The header fields of a stored edXML packet, matched by local name whatever the namespace
-- (as the parser matches them); a packet PostgreSQL cannot read as XML gives NULLs.
CREATE FUNCTION pg_temp.register_fields(
    packet bytea,
    OUT code_number text, OUT code_notation text, OUT promulgated_on date,
    OUT document_type text, OUT signer text, OUT due_date date, OUT author text
) LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    SELECT pg_temp.register_text(h.code_number, 32), pg_temp.register_text(h.code_notation, 128),
           pg_temp.register_date(btrim(h.promulgated_on, E' \t\r\n')),
           pg_temp.register_text(h.document_type, 128), pg_temp.register_text(h.signer, 128),
           pg_temp.register_date(btrim(h.due_date, E' \t\r\n')),
           pg_temp.register_text(h.author, 256)
      INTO code_number, code_notation, promulgated_on, document_type, signer, due_date, author
      FROM XMLTABLE(
          '/*[local-name()="edXML"]/*[local-name()="edXMLEnvelope"]'
          '/*[local-name()="edXMLHeader"]/*[local-name()="MessageHeader"]'
          PASSING xmlparse(DOCUMENT convert_from(packet, 'UTF8'))
          COLUMNS
              code_number text
                  PATH 'string(*[local-name()="Code"][1]/*[local-name()="CodeNumber"][1])',
              code_notation text
                  PATH 'string(*[local-name()="Code"][1]/*[local-name()="CodeNotation"][1])',
              promulgated_on text PATH 'string(*[local-name()="PromulgationInfo"][1]'
                                       '/*[local-name()="PromulgationDate"][1])',
              document_type text PATH 'string(*[local-name()="DocumentType"][1]'
                                      '/*[local-name()="TypeName"][1])',
              signer text
                  PATH 'string(*[local-name()="SignerInfo"][1]/*[local-name()="FullName"][1])',
              due_date text PATH 'string(*[local-name()="DueDate"][1])',
              author text
                  PATH 'string(*[local-name()="From"][1]/*[local-name()="OrganName"][1])'
      ) AS h
     LIMIT 1;
EXCEPTION WHEN others THEN
    code_number := NULL; code_notation := NULL; promulgated_on := NULL; document_type := NULL;
    signer := NULL; due_date := NULL; author := NULL;
END $$;

UPDATE incoming_register
   SET (code_number, code_notation, promulgated_on, document_type, signer, due_date, author)
       = (SELECT f.* FROM pg_temp.register_fields(edxml) AS f);

-- An outgoing document's edXML is kept only inside its signed envelope, in the outbox: an
-- Avro SignedEnvelope (the body's 8-byte schema fingerprint, then the body as Avro bytes)
-- whose EnvelopeBody holds message_id, kind, sender, recipients, created_at, document_id,
-- priority and then the edXML bytes. The reader below knows the one EnvelopeBody schema
-- written so far (fingerprint c760e88267c52199); another gives NULL.

-- An Avro long (zig-zag varint) at `pos` (0-based); `pos` moves past it.
CREATE FUNCTION pg_temp.avro_long(data bytea, INOUT pos integer, OUT value bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    raw bigint := 0;
    shift integer := 0;
    b integer;
BEGIN
    LOOP
        b := get_byte(data, pos);
        pos := pos + 1;
        raw := raw | ((b & 127)::bigint << shift);
        EXIT WHEN b < 128;
        shift := shift + 7;
        IF shift > 63 THEN
            RAISE EXCEPTION 'varint too long';
        END IF;
    END LOOP;
    value := (raw >> 1) # (-(raw & 1));
END $$;

CREATE FUNCTION pg_temp.envelope_edxml(envelope bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    pos integer := 8;
    size bigint;
    count bigint;
BEGIN
    IF substring(envelope FROM 1 FOR 8) <> '\xc760e88267c52199'::bytea THEN
        RETURN NULL;
    END IF;
    SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;  -- body
    SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;  -- message_id
    IF size < 0 OR pos + size > length(envelope) THEN  -- a length no envelope has
        RETURN NULL;
    END IF;
    pos := pos + size;
    SELECT a.pos INTO pos FROM pg_temp.avro_long(envelope, pos) AS a;  -- kind
    SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;  -- sender
    IF size < 0 OR pos + size > length(envelope) THEN  -- a length no envelope has
        RETURN NULL;
    END IF;
    pos := pos + size;
    LOOP  -- recipients: blocks of strings, a negative count followed by the block's size
        SELECT a.pos, a.value INTO pos, count FROM pg_temp.avro_long(envelope, pos) AS a;
        EXIT WHEN count = 0;
        IF count < 0 THEN
            count := -count;
            SELECT a.pos INTO pos FROM pg_temp.avro_long(envelope, pos) AS a;
        END IF;
        IF count > length(envelope) THEN  -- every item takes a byte at least
            RETURN NULL;
        END IF;
        FOR i IN 1..count LOOP
            SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;
            IF size < 0 OR pos + size > length(envelope) THEN  -- a length no envelope has
                RETURN NULL;
            END IF;
            pos := pos + size;
        END LOOP;
    END LOOP;
    SELECT a.pos INTO pos FROM pg_temp.avro_long(envelope, pos) AS a;  -- created_at
    SELECT a.pos, a.value INTO pos, count FROM pg_temp.avro_long(envelope, pos) AS a;
    IF count = 1 THEN  -- document_id: the union's string branch
        SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;
        IF size < 0 OR pos + size > length(envelope) THEN  -- a length no envelope has
            RETURN NULL;
        END IF;
        pos := pos + size;
    END IF;
    SELECT a.pos INTO pos FROM pg_temp.avro_long(envelope, pos) AS a;  -- priority
    SELECT a.pos, a.value INTO pos, size FROM pg_temp.avro_long(envelope, pos) AS a;  -- edxml
    IF size < 0 OR pos + size > length(envelope) THEN
        RETURN NULL;
    END IF;
    RETURN substring(envelope FROM pos + 1 FOR size::integer);
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

UPDATE outgoing_register AS r
   SET (code_number, code_notation, promulgated_on, document_type, signer, due_date, author)
       = (SELECT f.* FROM outbox AS o
           CROSS JOIN LATERAL pg_temp.register_fields(pg_temp.envelope_edxml(o.value)) AS f
           WHERE o.unit = r.unit AND o.message_id = r.message_id);

DROP FUNCTION pg_temp.register_fields(bytea);
DROP FUNCTION pg_temp.envelope_edxml(bytea);
DROP FUNCTION pg_temp.avro_long(bytea, integer);
DROP FUNCTION pg_temp.register_text(text, integer);
DROP FUNCTION pg_temp.register_date(text);
