"""The patient's secure mailbox (issue 16): the inbound SMTP face (``smtp``: aiosmtpd, STARTTLS, AUTH or
client certificate), delivery into conversations with the address rules and their delivery reports
(``delivery``), the MIME of reports, read receipts and patient messages (``mime``), the outgoing mail
(``outbound``), and the patient-side use cases the FHIR routes and the portal call (``patient``). The rules
themselves are pure, in ``xds_server.core.mailbox``."""

__all__: list[str] = []
