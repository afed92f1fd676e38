"""Hypothesis strategies for the models: what any valid sender could produce."""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from schemas.edxml import model as m

ORGAN_IDS = st.from_regex(r"\A\d{3}\.\d{2}\.\d{2}\.[A-Z][0-9A-Z]{2}\Z")
TEXT = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
            blacklist_characters="\ufffe\uffff",
        ),
        min_size=1,
        max_size=24,
    )
    .map(str.strip)
    .filter(bool)
)
OPTIONAL_TEXT = st.none() | TEXT
DATES = st.none() | st.dates(datetime.date(1950, 1, 1), datetime.date(2100, 12, 31))
TIMES = st.none() | st.datetimes(
    datetime.datetime(1950, 1, 1), datetime.datetime(2100, 12, 31)
).map(lambda t: t.replace(microsecond=0))
NUMBERS = st.none() | st.integers(0, 10**6)

organizations = st.builds(
    m.Organization,
    organ_id=st.none() | ORGAN_IDS,
    organization_in_charge=OPTIONAL_TEXT,
    organ_name=OPTIONAL_TEXT,
    organ_add=OPTIONAL_TEXT,
    email=OPTIONAL_TEXT,
    telephone=OPTIONAL_TEXT,
    fax=OPTIONAL_TEXT,
    website=OPTIONAL_TEXT,
)
response_for = st.builds(
    m.ResponseFor,
    organ_id=st.none() | ORGAN_IDS,
    code=OPTIONAL_TEXT,
    promulgation_date=DATES,
    document_id=OPTIONAL_TEXT,
)
staff = st.builds(m.StaffInfo, department=OPTIONAL_TEXT, staff=OPTIONAL_TEXT, email=OPTIONAL_TEXT)
business = st.builds(
    m.Business,
    document_id=OPTIONAL_TEXT,
    business_doc_type=st.none() | st.sampled_from(list(m.BusinessDocType)).map(int),
    business_doc_reason=OPTIONAL_TEXT,
    paper=st.none() | st.integers(0, 1),
    staff_info=st.none() | staff,
    replacement_info=st.lists(
        st.builds(
            m.ReplacementInfo,
            document_id=OPTIONAL_TEXT,
            organ_ids=st.lists(ORGAN_IDS, max_size=3).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
)
attachments = st.builds(
    m.Attachment,
    content_id=OPTIONAL_TEXT,
    attachment_name=OPTIONAL_TEXT,
    description=OPTIONAL_TEXT,
    content_type=OPTIONAL_TEXT,
    content=st.binary(max_size=300),
)
common = {
    "from_": organizations,
    "response_for": st.lists(response_for, max_size=2).map(tuple),
    "trace_headers": st.lists(
        st.builds(m.TraceHeader, organ_id=st.none() | ORGAN_IDS, timestamp=TIMES), max_size=3
    ).map(tuple),
    "business": st.none() | business,
    "manifest_version": st.none() | st.just("1.0"),
    "manifest": st.lists(
        st.builds(
            m.ManifestReference,
            content_id=OPTIONAL_TEXT,
            content_type=OPTIONAL_TEXT,
            description=OPTIONAL_TEXT,
            attachment_name=OPTIONAL_TEXT,
        ),
        max_size=2,
    ).map(tuple),
    "attachments": st.lists(attachments, max_size=2).map(tuple),
}
documents = st.builds(
    m.DocumentPacket,
    **common,
    to=st.lists(organizations, max_size=3).map(tuple),
    document_id=OPTIONAL_TEXT,
    code=st.none() | st.builds(m.Code, code_number=OPTIONAL_TEXT, code_notation=OPTIONAL_TEXT),
    promulgation_info=st.none()
    | st.builds(m.PromulgationInfo, place=OPTIONAL_TEXT, promulgation_date=DATES),
    document_type=st.none()
    | st.builds(m.DocumentType, type=NUMBERS, type_detail=NUMBERS, type_name=OPTIONAL_TEXT),
    subject=OPTIONAL_TEXT,
    content=OPTIONAL_TEXT,
    signer_info=st.none()
    | st.builds(
        m.SignerInfo, competence=OPTIONAL_TEXT, position=OPTIONAL_TEXT, full_name=OPTIONAL_TEXT
    ),
    due_date=DATES,
    other_info=st.none()
    | st.builds(
        m.OtherInfo,
        priority=st.none() | st.integers(0, 4),
        sphere_of_promulgation=OPTIONAL_TEXT,
        promulgation_amount=NUMBERS,
        page_amount=NUMBERS,
        direction=st.none() | st.booleans(),
        appendixes=st.lists(TEXT, max_size=2).map(tuple),
    ),
    steering_type=NUMBERS,
    to_places=st.lists(TEXT, max_size=2).map(tuple),
)
statuses = st.builds(
    m.StatusPacket,
    **common,
    staff_info=st.none() | staff,
    status_code=st.sampled_from(list(m.StatusCode)),
    description=OPTIONAL_TEXT,
    timestamp=TIMES,
)
packets = documents | statuses
