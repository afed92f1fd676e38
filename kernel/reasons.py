"""Reason codes: one vocabulary for logs, metrics, the ledger and the status sent back.

Values are stable strings: they are stored in the ledger and travel in status packets, so a
code is never renamed, only added. Each code carries a short English and Vietnamese sentence
for operators and senders.
"""

from __future__ import annotations

import enum


class ReasonCode(enum.StrEnum):
    # The local environment and the services behind it.
    CONFIG_INVALID = "config_invalid"
    JAVA_MISSING = "java_missing"
    MAVEN_UNREACHABLE = "maven_unreachable"
    POSTGRES_MISSING = "postgres_missing"
    PORT_IN_USE = "port_in_use"
    STALE_DATA_DIR = "stale_data_dir"
    SERVICE_FAILED = "service_failed"
    KAFKA_UNAVAILABLE = "kafka_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    MIGRATION_FAILED = "migration_failed"
    CLAMAV_MISSING = "clamav_missing"
    CHROMIUM_MISSING = "chromium_missing"
    SCANNER_UNAVAILABLE = "scanner_unavailable"
    CLAIM_STORE_UNAVAILABLE = "claim_store_unavailable"

    # edXML packets (QCVN 102:2016).
    EDXML_MALFORMED = "edxml_malformed"
    EDXML_NOT_EDXML = "edxml_not_edxml"
    EDXML_DTD_FORBIDDEN = "edxml_dtd_forbidden"
    EDXML_EXTERNAL_ENTITY = "edxml_external_entity"
    EDXML_ENTITY_EXPANSION = "edxml_entity_expansion"
    EDXML_TOO_LARGE = "edxml_too_large"
    EDXML_TOO_DEEP = "edxml_too_deep"
    EDXML_INVALID_VALUE = "edxml_invalid_value"
    EDXML_ROUNDTRIP_MISMATCH = "edxml_roundtrip_mismatch"
    FILE_UNREADABLE = "file_unreadable"
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    ATTACHMENT_NOT_BASE64 = "attachment_not_base64"
    ATTACHMENT_HASH_MISMATCH = "attachment_hash_mismatch"
    ATTACHMENT_TYPE_NOT_ALLOWED = "attachment_type_not_allowed"
    ATTACHMENT_TOO_COMPLEX = "attachment_too_complex"
    ATTACHMENT_MISSING = "attachment_missing"
    ATTACHMENT_REFERENCE_INVALID = "attachment_reference_invalid"
    ATTACHMENT_BY_REFERENCE = "attachment_by_reference"
    PDF_ENCRYPTED = "pdf_encrypted"

    # Avro envelopes.
    ENVELOPE_MALFORMED = "envelope_malformed"
    ENVELOPE_TRUNCATED = "envelope_truncated"
    SCHEMA_UNKNOWN_FINGERPRINT = "schema_unknown_fingerprint"
    ENVELOPE_TOO_LARGE = "envelope_too_large"
    ENVELOPE_TOO_OLD = "envelope_too_old"
    ENVELOPE_FROM_FUTURE = "envelope_from_future"
    MESSAGE_ID_INVALID = "message_id_invalid"
    MESSAGE_ID_TAKEN = "message_id_taken"

    # Who may say what: the edXML bound to its envelope, statuses to their entitled sender.
    EDXML_SENDER_MISMATCH = "edxml_sender_mismatch"
    EDXML_RECIPIENT_MISMATCH = "edxml_recipient_mismatch"
    DOCUMENT_ID_WRONG_ORGAN = "document_id_wrong_organ"
    DOCUMENT_ID_MISMATCH = "document_id_mismatch"
    KIND_MISMATCH = "kind_mismatch"
    FOLLOW_UP_UNKNOWN_DOCUMENT = "follow_up_unknown_document"
    LANE_NOT_URGENT = "lane_not_urgent"
    STATUS_RESPONSE_MISMATCH = "status_response_mismatch"
    STATUS_NOT_ENTITLED = "status_not_entitled"
    STATUS_BACKWARDS = "status_backwards"

    # Signatures and certificates.
    SIGNATURE_INVALID = "signature_invalid"
    ALGORITHM_UNSUPPORTED = "algorithm_unsupported"
    CERTIFICATE_MALFORMED = "certificate_malformed"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    CERTIFICATE_REVOKED = "certificate_revoked"
    CERTIFICATE_KEY_USAGE = "certificate_key_usage"
    CERTIFICATE_WRONG_UNIT = "certificate_wrong_unit"
    REVOCATION_UNKNOWN = "revocation_unknown"
    CERTIFICATE_IS_CA = "certificate_is_ca"
    CERTIFICATE_PATH_LENGTH = "certificate_path_length"
    CERTIFICATE_EXTENDED_KEY_USAGE = "certificate_extended_key_usage"
    PDF_MALFORMED = "pdf_malformed"
    PDF_UNSIGNED = "pdf_unsigned"
    PDF_MODIFIED_AFTER_SIGNING = "pdf_modified_after_signing"
    PDF_SIGNATURE_MISSING = "pdf_signature_missing"
    MALWARE_FOUND = "malware_found"
    MALWARE_SCAN_FAILED = "malware_scan_failed"

    # The content policy (Article 4 of the regulation).
    POLICY_SECRET_MARK = "policy_secret_mark"  # noqa: S105 (a reason code, not a password)
    POLICY_COMPLAINT = "policy_complaint"
    POLICY_SENSITIVE = "policy_sensitive"
    POLICY_HARMFUL = "policy_harmful"
    POLICY_INVALID = "policy_invalid"
    PAPER_COPY_REQUIRED = "paper_copy_required"
    TEXT_NOT_UNICODE = "text_not_unicode"

    # The unit directory.
    ORGANID_INVALID = "organid_invalid"
    UNIT_UNKNOWN = "unit_unknown"
    UNIT_CLOSED = "unit_closed"
    UNIT_REDIRECTED = "unit_redirected"
    DIRECTORY_INVALID = "directory_invalid"

    # The perimeter: who may connect, and as whom.
    KAFKA_CREDENTIALS_MISSING = "kafka_credentials_missing"
    KAFKA_AUTHENTICATION_FAILED = "kafka_authentication_failed"
    KAFKA_NOT_AUTHORIZED = "kafka_not_authorized"
    ENDORSEMENT_MISSING = "endorsement_missing"
    ENDORSEMENT_INVALID = "endorsement_invalid"
    NOT_A_RECIPIENT = "not_a_recipient"
    STATUS_UNKNOWN_MESSAGE = "status_unknown_message"
    CREDENTIALS_MISSING = "credentials_missing"
    CREDENTIALS_INVALID = "credentials_invalid"
    UNIT_FORBIDDEN = "unit_forbidden"
    ORIGIN_FORBIDDEN = "origin_forbidden"
    HOST_FORBIDDEN = "host_forbidden"
    MEDIA_TYPE_UNSUPPORTED = "media_type_unsupported"
    REQUEST_MALFORMED = "request_malformed"
    REQUEST_TOO_LARGE = "request_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    DATABASE_PERMISSION_DENIED = "database_permission_denied"
    INTERNAL_ERROR = "internal_error"

    # The national axis protocol (/vxp): agency systems signing requests with a shared secret.
    SYSTEM_UNKNOWN = "system_unknown"
    SYSTEM_ID_INVALID = "system_id_invalid"
    SYSTEM_ID_TAKEN = "system_id_taken"
    REQUEST_SIGNATURE_INVALID = "request_signature_invalid"
    PARAMETER_UNSIGNED = "parameter_unsigned"
    BODY_HASH_MISMATCH = "body_hash_mismatch"

    # Gateways: units reached through a bridge to an axis endpoint, or a federated peer.
    UNIT_REMOTE = "unit_remote"
    ENDPOINT_UNAVAILABLE = "endpoint_unavailable"
    ENDPOINT_REFUSED = "endpoint_refused"
    XMLDSIG_INVALID = "xmldsig_invalid"
    CERTIFICATE_SPANS_GATEWAYS = "certificate_spans_gateways"

    # Console accounts (Decision 37/2018/QĐ-UBND of Bến Tre, Articles 6, 7 and 9.2).
    ACCOUNT_NAME_INVALID = "account_name_invalid"
    UNIT_ABBREVIATION_INVALID = "unit_abbreviation_invalid"
    PASSWORD_TOO_WEAK = "password_too_weak"  # noqa: S105 (a reason code, not a password)
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_UNKNOWN = "account_unknown"
    ACCOUNT_SCOPE_FORBIDDEN = "account_scope_forbidden"
    # The console's web perimeter (console/sessions.py, console/guard.py).
    SESSION_REQUIRED = "session_required"
    CSRF_INVALID = "csrf_invalid"
    LOGIN_RATE_LIMITED = "login_rate_limited"
    # The content policy, continued: Article 4.3's foreign affairs, and an operator's refusal.
    POLICY_FOREIGN_AFFAIRS = "policy_foreign_affairs"
    POLICY_REFUSED_ON_REVIEW = "policy_refused_on_review"

    @property
    def sentence_en(self) -> str:
        return _SENTENCES[self][0]

    @property
    def sentence_vi(self) -> str:
        return _SENTENCES[self][1]

    def explain(self, detail: str) -> str:
        """The human text sent with a refusal: Vietnamese, English, then the specifics."""
        return f"{self.sentence_vi} / {self.sentence_en} ({detail})"


_SENTENCES: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.CONFIG_INVALID: (
        "A setting has an invalid value.",
        "Giá trị cấu hình không hợp lệ.",
    ),
    ReasonCode.CHROMIUM_MISSING: (
        "Debian's chromium, which the console's browser tests drive, is not installed.",
        "Chưa cài trình duyệt chromium của Debian, dùng cho kiểm thử trang quản trị.",
    ),
    ReasonCode.CLAMAV_MISSING: (
        "The ClamAV daemon (clamav-daemon) was not found.",
        "Không tìm thấy dịch vụ quét mã độc ClamAV (clamav-daemon).",
    ),
    ReasonCode.SCANNER_UNAVAILABLE: (
        "The malware scanner did not answer.",
        "Trình quét mã độc không phản hồi.",
    ),
    ReasonCode.CLAIM_STORE_UNAVAILABLE: (
        "The store of large attachments cannot be read or written.",
        "Không đọc hoặc ghi được kho lưu trữ tệp đính kèm lớn.",
    ),
    ReasonCode.JAVA_MISSING: (
        "Java 17 or newer is needed to run Kafka and was not found.",
        "Không tìm thấy Java 17 trở lên để chạy Kafka.",
    ),
    ReasonCode.MAVEN_UNREACHABLE: (
        "Maven could not fetch the Kafka jars.",
        "Maven không tải được các gói Kafka.",
    ),
    ReasonCode.POSTGRES_MISSING: (
        "The PostgreSQL server binaries were not found.",
        "Không tìm thấy chương trình máy chủ PostgreSQL.",
    ),
    ReasonCode.PORT_IN_USE: (
        "A port the service needs is already taken by another program.",
        "Cổng mạng cần dùng đã bị chương trình khác chiếm.",
    ),
    ReasonCode.STALE_DATA_DIR: (
        "A data directory left by an earlier run does not match this one.",
        "Thư mục dữ liệu còn lại từ lần chạy trước không khớp.",
    ),
    ReasonCode.SERVICE_FAILED: (
        "A local service failed to start or to stop.",
        "Dịch vụ cục bộ không khởi động hoặc dừng được.",
    ),
    ReasonCode.KAFKA_UNAVAILABLE: (
        "The Kafka cluster did not answer.",
        "Cụm Kafka không phản hồi.",
    ),
    ReasonCode.DATABASE_UNAVAILABLE: (
        "The PostgreSQL database did not answer.",
        "Cơ sở dữ liệu PostgreSQL không phản hồi.",
    ),
    ReasonCode.MIGRATION_FAILED: (
        "A database migration failed.",
        "Không nâng cấp được lược đồ cơ sở dữ liệu.",
    ),
    ReasonCode.EDXML_MALFORMED: (
        "The edXML packet is not well-formed XML.",
        "Gói tin edXML không đúng cú pháp XML.",
    ),
    ReasonCode.EDXML_NOT_EDXML: (
        "The XML is not an edXML packet (QCVN 102:2016).",
        "Tệp XML không phải gói tin edXML theo QCVN 102:2016.",
    ),
    ReasonCode.EDXML_DTD_FORBIDDEN: (
        "The packet carries a DTD, which edXML never needs.",
        "Gói tin chứa khai báo DTD, không được phép.",
    ),
    ReasonCode.EDXML_EXTERNAL_ENTITY: (
        "The packet declares an external entity (XXE attempt).",
        "Gói tin khai báo thực thể ngoài (tấn công XXE).",
    ),
    ReasonCode.EDXML_ENTITY_EXPANSION: (
        "The packet declares entities that would expand (billion laughs attempt).",
        "Gói tin khai báo thực thể lồng nhau (tấn công billion laughs).",
    ),
    ReasonCode.EDXML_TOO_LARGE: (
        "The packet is larger than the configured limit.",
        "Gói tin vượt quá kích thước cho phép.",
    ),
    ReasonCode.EDXML_TOO_DEEP: (
        "The packet nests elements deeper than edXML ever does.",
        "Gói tin lồng phần tử quá sâu.",
    ),
    ReasonCode.EDXML_INVALID_VALUE: (
        "A field of the packet has a value of the wrong form.",
        "Một trường của gói tin có giá trị sai định dạng.",
    ),
    ReasonCode.EDXML_ROUNDTRIP_MISMATCH: (
        "The packet written back does not read the same (a defect in lienthong).",
        "Gói tin ghi lại không đọc ra như cũ (lỗi của lienthong).",
    ),
    ReasonCode.FILE_UNREADABLE: (
        "The file cannot be read.",
        "Không đọc được tệp.",
    ),
    ReasonCode.ATTACHMENT_TOO_LARGE: (
        "An attachment is larger than the configured limit.",
        "Tệp đính kèm vượt quá kích thước cho phép.",
    ),
    ReasonCode.ATTACHMENT_NOT_BASE64: (
        "An attachment's content is not valid base64.",
        "Nội dung tệp đính kèm không phải base64 hợp lệ.",
    ),
    ReasonCode.ATTACHMENT_HASH_MISMATCH: (
        "An attachment's content does not match its declared hash or size.",
        "Nội dung tệp đính kèm không khớp mã băm hoặc kích thước đã khai.",
    ),
    ReasonCode.ATTACHMENT_TYPE_NOT_ALLOWED: (
        "An attachment is of a type the exchange does not carry.",
        "Tệp đính kèm thuộc loại không được phép gửi.",
    ),
    ReasonCode.ATTACHMENT_TOO_COMPLEX: (
        "An attachment needs more time or memory to check than the budget allows; it waits "
        "for review.",
        "Tệp đính kèm cần nhiều thời gian hoặc bộ nhớ để kiểm tra hơn mức cho phép; chờ xem xét.",
    ),
    ReasonCode.ATTACHMENT_MISSING: (
        "An attachment sent by reference is not in the claim-check store.",
        "Tệp đính kèm gửi theo tham chiếu không có trong kho lưu trữ.",
    ),
    ReasonCode.ATTACHMENT_REFERENCE_INVALID: (
        "An attachment carries neither its content nor a reference to its own SHA-256, or both.",
        "Tệp đính kèm không mang nội dung hoặc tham chiếu đúng mã băm SHA-256 của nó, hoặc "
        "mang cả hai.",
    ),
    ReasonCode.ATTACHMENT_BY_REFERENCE: (
        "An attachment travels by reference (too large to embed) and this protocol can carry "
        "attachments only inside the edXML.",
        "Tệp đính kèm được gửi theo tham chiếu (quá lớn để nhúng), giao thức này chỉ mang được "
        "tệp đính kèm nằm trong gói edXML.",
    ),
    ReasonCode.PDF_ENCRYPTED: (
        "A PDF attachment is encrypted and cannot be checked.",
        "Tệp PDF đính kèm bị mã hóa, không kiểm tra được.",
    ),
    ReasonCode.ENVELOPE_MALFORMED: (
        "The envelope cannot be decoded.",
        "Không giải mã được phong bì.",
    ),
    ReasonCode.ENVELOPE_TRUNCATED: (
        "The envelope is cut short.",
        "Phong bì bị cắt cụt.",
    ),
    ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT: (
        "The envelope was written with a schema this system does not know.",
        "Phong bì được ghi bằng lược đồ mà hệ thống không biết.",
    ),
    ReasonCode.ENVELOPE_TOO_LARGE: (
        "The envelope is larger than the exchange carries.",
        "Phong bì vượt quá kích thước trục liên thông cho phép.",
    ),
    ReasonCode.ENVELOPE_TOO_OLD: (
        "The envelope was created longer ago than the exchange accepts.",
        "Phong bì được tạo quá lâu so với thời hạn trục liên thông chấp nhận.",
    ),
    ReasonCode.ENVELOPE_FROM_FUTURE: (
        "The envelope says it was created later than the router received it.",
        "Phong bì ghi thời điểm tạo muộn hơn thời điểm bộ định tuyến nhận được.",
    ),
    ReasonCode.MESSAGE_ID_INVALID: (
        "The message id is not of the form its kind requires.",
        "Mã thông điệp không đúng dạng quy định cho loại thông điệp.",
    ),
    ReasonCode.MESSAGE_ID_TAKEN: (
        "The message id already belongs to another unit's message.",
        "Mã thông điệp đã thuộc về thông điệp của đơn vị khác.",
    ),
    ReasonCode.EDXML_SENDER_MISMATCH: (
        "The edXML names another sender (From) than the signed envelope.",
        "Gói tin edXML ghi nơi gửi (From) khác với đơn vị ký phong bì.",
    ),
    ReasonCode.EDXML_RECIPIENT_MISMATCH: (
        "A recipient of the envelope is not among the edXML's recipients (To).",
        "Nơi nhận của phong bì không có trong danh sách nơi nhận (To) của gói tin edXML.",
    ),
    ReasonCode.DOCUMENT_ID_WRONG_ORGAN: (
        "The document id names another agency than the sender.",
        "Mã văn bản ghi cơ quan khác với đơn vị gửi.",
    ),
    ReasonCode.DOCUMENT_ID_MISMATCH: (
        "The envelope's document id is not the edXML's DocumentId.",
        "Mã văn bản của phong bì khác với mã văn bản (DocumentId) trong gói tin edXML.",
    ),
    ReasonCode.KIND_MISMATCH: (
        "The edXML's business type does not match the envelope's kind.",
        "Loại nghiệp vụ trong gói tin edXML không khớp với loại phong bì.",
    ),
    ReasonCode.LANE_NOT_URGENT: (
        "A document not marked urgent was sent on the urgent lane.",
        "Văn bản không có mức độ khẩn được gửi qua luồng ưu tiên.",
    ),
    ReasonCode.FOLLOW_UP_UNKNOWN_DOCUMENT: (
        "A revoke, update or replace refers to no document this sender sent.",
        "Văn bản thu hồi, cập nhật hoặc thay thế không tham chiếu văn bản nào đơn vị đã gửi.",
    ),
    ReasonCode.STATUS_RESPONSE_MISMATCH: (
        "The status packet answers for another document than the message it is about.",
        "Gói tin trạng thái trả lời cho văn bản khác với thông điệp được nêu.",
    ),
    ReasonCode.STATUS_NOT_ENTITLED: (
        "The unit may not send this status about this message.",
        "Đơn vị không có quyền gửi trạng thái này cho thông điệp này.",
    ),
    ReasonCode.STATUS_BACKWARDS: (
        "The status would move the delivery back to an earlier state.",
        "Trạng thái này đưa quá trình xử lý văn bản lùi về trạng thái trước.",
    ),
    ReasonCode.SIGNATURE_INVALID: (
        "The signature does not match the content and the certificate.",
        "Chữ ký số không khớp với nội dung và chứng thư số.",
    ),
    ReasonCode.ALGORITHM_UNSUPPORTED: (
        "The signature algorithm is not accepted.",
        "Thuật toán ký không được chấp nhận.",
    ),
    ReasonCode.CERTIFICATE_MALFORMED: (
        "A certificate cannot be read.",
        "Không đọc được chứng thư số.",
    ),
    ReasonCode.CERTIFICATE_UNTRUSTED: (
        "The certificate does not chain to a trusted Government CA root.",
        "Chứng thư số không thuộc chuỗi tin cậy của CA Chính phủ.",
    ),
    ReasonCode.CERTIFICATE_EXPIRED: (
        "The certificate had expired when the router received the content.",
        "Chứng thư số đã hết hạn tại thời điểm trục liên thông nhận.",
    ),
    ReasonCode.CERTIFICATE_NOT_YET_VALID: (
        "The certificate was not yet valid when the router received the content.",
        "Chứng thư số chưa có hiệu lực tại thời điểm trục liên thông nhận.",
    ),
    ReasonCode.CERTIFICATE_REVOKED: (
        "The certificate has been revoked.",
        "Chứng thư số đã bị thu hồi.",
    ),
    ReasonCode.CERTIFICATE_KEY_USAGE: (
        "The certificate may not be used for digital signatures.",
        "Chứng thư số không được phép dùng để ký số.",
    ),
    ReasonCode.CERTIFICATE_WRONG_UNIT: (
        "The certificate belongs to another unit than the sender.",
        "Chứng thư số thuộc về đơn vị khác với đơn vị gửi.",
    ),
    ReasonCode.REVOCATION_UNKNOWN: (
        "No current revocation list covers the certificate.",
        "Không có danh sách thu hồi hiện hành cho chứng thư số.",
    ),
    ReasonCode.CERTIFICATE_IS_CA: (
        "A CA certificate signed the content; only end-entity certificates sign documents.",
        "Chứng thư số của tổ chức cấp chứng thư đã ký; chỉ chứng thư của thuê bao được ký văn bản.",
    ),
    ReasonCode.CERTIFICATE_PATH_LENGTH: (
        "The certificate chain is longer than an issuer's path-length constraint allows.",
        "Chuỗi chứng thư số dài hơn giới hạn độ dài đường dẫn của tổ chức cấp.",
    ),
    ReasonCode.CERTIFICATE_EXTENDED_KEY_USAGE: (
        "The certificate's extended key usage does not allow signing documents.",
        "Mục đích sử dụng mở rộng của chứng thư số không cho phép ký văn bản.",
    ),
    ReasonCode.PDF_MALFORMED: (
        "The PDF attachment cannot be read.",
        "Không đọc được tệp PDF đính kèm.",
    ),
    ReasonCode.PDF_UNSIGNED: (
        "The PDF attachment carries no digital signature.",
        "Tệp PDF đính kèm chưa được ký số.",
    ),
    ReasonCode.PDF_MODIFIED_AFTER_SIGNING: (
        "The PDF attachment was changed after it was signed.",
        "Tệp PDF đính kèm đã bị sửa đổi sau khi ký.",
    ),
    ReasonCode.PDF_SIGNATURE_MISSING: (
        "The PDF attachment lacks a signature its document type requires.",
        "Tệp PDF đính kèm thiếu chữ ký số bắt buộc đối với loại văn bản này.",
    ),
    ReasonCode.MALWARE_FOUND: (
        "An attachment carries malware (Art. 9.2).",
        "Tệp đính kèm có mã độc (Điều 9.2).",
    ),
    ReasonCode.MALWARE_SCAN_FAILED: (
        "The malware scanner could not scan an attachment.",
        "Trình quét mã độc không quét được tệp đính kèm.",
    ),
    ReasonCode.POLICY_SECRET_MARK: (
        "The document carries a state-secret mark; secrets never enter the system (Art. 4.1).",
        "Văn bản có dấu độ mật; không đưa bí mật nhà nước lên hệ thống (Điều 4.1).",
    ),
    ReasonCode.POLICY_COMPLAINT: (
        "Complaints and denunciations are not exchanged on the system (Art. 4.2).",
        "Đơn khiếu nại, tố cáo không được đưa lên hệ thống (Điều 4.2).",
    ),
    ReasonCode.POLICY_SENSITIVE: (
        "The document touches a sensitive topic and waits for review (Art. 4.3).",
        "Văn bản có nội dung nhạy cảm, chờ xem xét (Điều 4.3).",
    ),
    ReasonCode.POLICY_HARMFUL: (
        "The document may carry harmful content and waits for review (Art. 4.4).",
        "Văn bản có thể chứa nội dung độc hại, chờ xem xét (Điều 4.4).",
    ),
    ReasonCode.PAPER_COPY_REQUIRED: (
        "This document must also be sent on paper (Art. 5.3).",
        "Văn bản này phải gửi kèm bản giấy (Điều 5.3).",
    ),
    ReasonCode.TEXT_NOT_UNICODE: (
        "Text is in a legacy TCVN3 or VNI font, not Unicode TCVN 6909 (Art. 3.2).",
        "Văn bản dùng phông TCVN3 hoặc VNI cũ, không phải Unicode TCVN 6909 (Điều 3.2).",
    ),
    ReasonCode.POLICY_INVALID: (
        "The policy file is invalid.",
        "Tệp chính sách không hợp lệ.",
    ),
    ReasonCode.ORGANID_INVALID: (
        "The unit code is not in the form of Decision 20/2020/QĐ-TTg.",
        "Mã định danh đơn vị không đúng Quyết định 20/2020/QĐ-TTg.",
    ),
    ReasonCode.UNIT_UNKNOWN: (
        "The unit is not in the directory.",
        "Đơn vị không có trong danh mục.",
    ),
    ReasonCode.UNIT_CLOSED: (
        "The unit has closed and has no successor.",
        "Đơn vị đã giải thể và không có đơn vị kế thừa.",
    ),
    ReasonCode.UNIT_REDIRECTED: (
        "The recipient has closed; the document went to its successor.",
        "Đơn vị nhận đã giải thể; văn bản được chuyển cho đơn vị kế thừa.",
    ),
    ReasonCode.DIRECTORY_INVALID: (
        "The unit directory file is invalid.",
        "Tệp danh mục đơn vị không hợp lệ.",
    ),
    ReasonCode.KAFKA_CREDENTIALS_MISSING: (
        "No Kafka client credentials were found for this principal.",
        "Không tìm thấy thông tin xác thực Kafka cho chủ thể này.",
    ),
    ReasonCode.KAFKA_AUTHENTICATION_FAILED: (
        "Kafka refused the client's credentials.",
        "Kafka từ chối thông tin xác thực của máy khách.",
    ),
    ReasonCode.KAFKA_NOT_AUTHORIZED: (
        "Kafka does not allow this principal that operation.",
        "Kafka không cho phép chủ thể này thực hiện thao tác đó.",
    ),
    ReasonCode.ENDORSEMENT_MISSING: (
        "The record did not come through the router: it carries no router endorsement.",
        "Bản ghi không đi qua bộ định tuyến: không có xác nhận của bộ định tuyến.",
    ),
    ReasonCode.ENDORSEMENT_INVALID: (
        "The router endorsement of the record does not verify or does not match it.",
        "Xác nhận của bộ định tuyến không hợp lệ hoặc không khớp với bản ghi.",
    ),
    ReasonCode.NOT_A_RECIPIENT: (
        "The unit is not a recipient of this message.",
        "Đơn vị không phải là nơi nhận của thông điệp này.",
    ),
    ReasonCode.STATUS_UNKNOWN_MESSAGE: (
        "The status is about a message this unit never sent.",
        "Trạng thái nói về một thông điệp mà đơn vị này chưa từng gửi.",
    ),
    ReasonCode.CREDENTIALS_MISSING: (
        "The request carries no credentials.",
        "Yêu cầu không kèm thông tin xác thực.",
    ),
    ReasonCode.CREDENTIALS_INVALID: (
        "The credentials are unknown, wrong or revoked.",
        "Thông tin xác thực không đúng, không tồn tại hoặc đã bị thu hồi.",
    ),
    ReasonCode.UNIT_FORBIDDEN: (
        "These credentials may not act for that unit.",
        "Thông tin xác thực này không được phép thao tác cho đơn vị đó.",
    ),
    ReasonCode.ORIGIN_FORBIDDEN: (
        "Requests from that web origin are not accepted.",
        "Không chấp nhận yêu cầu từ nguồn web đó.",
    ),
    ReasonCode.HOST_FORBIDDEN: (
        "The request names a host this service does not answer for.",
        "Yêu cầu gửi tới tên máy chủ mà dịch vụ này không phục vụ.",
    ),
    ReasonCode.MEDIA_TYPE_UNSUPPORTED: (
        "The request body is not of an accepted media type.",
        "Nội dung yêu cầu không thuộc kiểu dữ liệu được chấp nhận.",
    ),
    ReasonCode.REQUEST_MALFORMED: (
        "The request is malformed.",
        "Yêu cầu không đúng định dạng.",
    ),
    ReasonCode.REQUEST_TOO_LARGE: (
        "The request body is larger than the service accepts.",
        "Nội dung yêu cầu vượt quá kích thước cho phép.",
    ),
    ReasonCode.NOT_FOUND: (
        "There is no such resource.",
        "Không có tài nguyên này.",
    ),
    ReasonCode.METHOD_NOT_ALLOWED: (
        "That method is not allowed on this resource.",
        "Phương thức này không được phép với tài nguyên này.",
    ),
    ReasonCode.INTERNAL_ERROR: (
        "lienthong failed on this record (a defect); it is kept as a dead letter.",
        "lienthong gặp lỗi khi xử lý bản ghi này (lỗi phần mềm); bản ghi được lưu lại.",
    ),
    ReasonCode.DATABASE_PERMISSION_DENIED: (
        "The database role may not do that.",
        "Vai trò cơ sở dữ liệu không được phép thực hiện thao tác đó.",
    ),
    ReasonCode.SYSTEM_UNKNOWN: (
        "The calling system is unknown or its credentials were revoked.",
        "Hệ thống gọi không được đăng ký hoặc thông tin xác thực đã bị thu hồi.",
    ),
    ReasonCode.SYSTEM_ID_INVALID: (
        "The system id is not of the accepted form.",
        "Mã hệ thống không đúng định dạng.",
    ),
    ReasonCode.SYSTEM_ID_TAKEN: (
        "The system id already belongs to another system.",
        "Mã hệ thống đã được cấp cho hệ thống khác.",
    ),
    ReasonCode.REQUEST_SIGNATURE_INVALID: (
        "The request's signature (XroadVnpt-hash-header) does not match its signed headers.",
        "Chữ ký của yêu cầu (XroadVnpt-hash-header) không khớp với các tham số đã ký.",
    ),
    ReasonCode.PARAMETER_UNSIGNED: (
        "A request parameter is not covered by the request's signature.",
        "Tham số của yêu cầu không nằm trong phần đã ký.",
    ),
    ReasonCode.BODY_HASH_MISMATCH: (
        "The request body does not match its declared hash (hash-file).",
        "Nội dung yêu cầu không khớp với mã băm đã khai (hash-file).",
    ),
    ReasonCode.UNIT_REMOTE: (
        "The unit is reached through a gateway; it is not hosted in this deployment.",
        "Đơn vị được kết nối qua cổng liên thông, không thuộc hệ thống này.",
    ),
    ReasonCode.ENDPOINT_UNAVAILABLE: (
        "The remote axis endpoint did not answer.",
        "Điểm kết nối trục liên thông bên ngoài không phản hồi.",
    ),
    ReasonCode.ENDPOINT_REFUSED: (
        "The remote axis endpoint refused the request.",
        "Điểm kết nối trục liên thông bên ngoài từ chối yêu cầu.",
    ),
    ReasonCode.XMLDSIG_INVALID: (
        "The edXML's XML signature does not verify.",
        "Chữ ký số XML của gói tin edXML không hợp lệ.",
    ),
    ReasonCode.CERTIFICATE_SPANS_GATEWAYS: (
        "The signer's certificate names units behind another gateway, or units of this "
        "exchange: a gateway's certificate speaks only for the units behind that gateway.",
        "Chứng thư số của bên ký ghi tên đơn vị thuộc cổng liên thông khác hoặc đơn vị của hệ "
        "thống này: chứng thư của một cổng chỉ đại diện cho các đơn vị sau cổng đó.",
    ),
    ReasonCode.ACCOUNT_NAME_INVALID: (
        "A user name cannot be made from that person's name (Article 6.2: family, middle and "
        "given names in Vietnamese letters).",
        "Không tạo được tên tài khoản từ họ tên này (Điều 6.2: họ, tên đệm và tên bằng chữ "
        "tiếng Việt).",
    ),
    ReasonCode.UNIT_ABBREVIATION_INVALID: (
        "The unit's abbreviation is not 2-20 lower-case letters or digits, or belongs to "
        "another unit.",
        "Tên viết tắt của đơn vị không phải 2-20 chữ thường hoặc chữ số, hoặc đã thuộc về "
        "đơn vị khác.",
    ),
    ReasonCode.PASSWORD_TOO_WEAK: (
        "The password does not meet the password policy.",
        "Mật khẩu không đáp ứng chính sách mật khẩu.",
    ),
    ReasonCode.LOGIN_FAILED: (
        "The user name or the password is wrong.",
        "Tên tài khoản hoặc mật khẩu không đúng.",
    ),
    ReasonCode.ACCOUNT_LOCKED: (
        "The account is locked (Article 7); a unit administrator can unlock it.",
        "Tài khoản đã bị khóa (Điều 7); quản trị viên của đơn vị có thể mở khóa.",
    ),
    ReasonCode.ACCOUNT_UNKNOWN: (
        "There is no account with that user name.",
        "Không có tài khoản với tên này.",
    ),
    ReasonCode.ACCOUNT_SCOPE_FORBIDDEN: (
        "The account may not act on that unit or give that role.",
        "Tài khoản không được phép thao tác với đơn vị đó hoặc cấp vai trò đó.",
    ),
    ReasonCode.SESSION_REQUIRED: (
        "There is no session, or it has ended: log in again.",
        "Chưa đăng nhập hoặc phiên làm việc đã hết hạn: hãy đăng nhập lại.",
    ),
    ReasonCode.CSRF_INVALID: (
        "The form did not come from this console (its CSRF token is missing or wrong).",
        "Biểu mẫu không xuất phát từ trang quản trị này (thiếu hoặc sai mã chống giả mạo).",
    ),
    ReasonCode.LOGIN_RATE_LIMITED: (
        "Too many login attempts from this address or for this account; wait and retry.",
        "Đăng nhập quá nhiều lần từ địa chỉ này hoặc cho tài khoản này; hãy chờ rồi thử lại.",
    ),
    ReasonCode.POLICY_FOREIGN_AFFAIRS: (
        "The document concerns a sensitive foreign-affairs matter and cites no conclusion of "
        "a competent authority; it waits for review (Art. 4.3).",
        "Văn bản liên quan đến vấn đề đối ngoại nhạy cảm, chưa viện dẫn kết luận của cơ quan "
        "có thẩm quyền; chờ xem xét (Điều 4.3).",
    ),
    ReasonCode.POLICY_REFUSED_ON_REVIEW: (
        "The document was held under the content policy and refused on review; the rule and "
        "article that held it follow.",
        "Văn bản bị giữ lại theo quy định về nội dung và đã bị từ chối sau khi xem xét; quy "
        "tắc và điều khoản áp dụng nêu sau đây.",
    ),
}
