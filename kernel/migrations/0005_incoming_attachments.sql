-- The files that came with an incoming document, kept with it (checked against their hashes).
CREATE TABLE incoming_attachments (
    unit        text NOT NULL,
    message_id  text NOT NULL,
    position    integer NOT NULL,
    name        text NOT NULL,
    media_type  text NOT NULL,
    sha256      text NOT NULL,
    size        bigint NOT NULL,
    content     bytea,
    reference   text,
    PRIMARY KEY (unit, message_id, position),
    FOREIGN KEY (unit, message_id) REFERENCES incoming_register (unit, message_id)
);
