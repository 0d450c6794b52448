"""The mailbox rules (core.mailbox): address verdicts, the Mon espace santé bounces, [FIN], who writes."""

from __future__ import annotations

import pytest

from xds_server.core.mailbox import (
    Bounce,
    ConversationState,
    DirectoryEntry,
    MailboxKind,
    Refusal,
    bounce_text,
    delivery_verdict,
    is_fin,
    may_reply,
    may_start_with,
    patient_ins,
    reply_subject,
    state_after,
)
from xds_server.core.ports import PatientState

VALID = "280017512345610"  # key 10
ADDRESS = f"{VALID}@patient.mssante.fr"


class TestDeliveryVerdict:
    @pytest.mark.parametrize(
        "ins",
        ["28001751234561", "2800175123456100", "280017512345611", "", "28001751234561X", "abcdefghijklmno"],
    )
    def test_invalid_ins_length_or_key(self, ins: str) -> None:
        assert delivery_verdict(ins, PatientState.ACTIVATED) is Bounce.INVALID

    def test_unknown_and_opposed_do_not_exist(self) -> None:
        assert delivery_verdict(VALID, None) is Bounce.UNKNOWN
        assert delivery_verdict(VALID, PatientState.OPPOSED) is Bounce.UNKNOWN

    def test_closed(self) -> None:
        assert delivery_verdict(VALID, PatientState.CLOSED) is Bounce.CLOSED

    @pytest.mark.parametrize("state", [PatientState.CREATED, PatientState.ACTIVATED])
    def test_created_and_activated_receive(self, state: PatientState) -> None:
        assert delivery_verdict(VALID, state) is None

    def test_corsica_key(self) -> None:
        # 2A -> 19: 1 85 05 2A 004 012 -> key of 1850519004012
        key = 97 - int("1850519004012") % 97
        assert delivery_verdict(f"185052A004012{key:02d}", PatientState.ACTIVATED) is None


class TestBounceTexts:
    def test_exact_sentences(self) -> None:
        prefix = f"Le message que vous avez envoyé à l'adresse \"{ADDRESS}\" n'a pas pu être distribué, car "
        assert bounce_text(Bounce.INVALID, ADDRESS) == prefix + "cette adresse Mon espace santé est invalide."
        assert bounce_text(Bounce.UNKNOWN, ADDRESS) == prefix + "cette adresse Mon espace santé n'existe pas."
        assert bounce_text(Bounce.CLOSED, ADDRESS) == (
            prefix + "la messagerie Mon espace santé de votre destinataire est clôturée."
        )


class TestAddresses:
    def test_patient_domain_only(self) -> None:
        assert patient_ins(f"<{VALID}@Patient.MSSante.fr>", "patient.mssante.fr") == VALID
        assert patient_ins(f"{VALID}@other.fr", "patient.mssante.fr") is None
        assert patient_ins("no-at-sign", "patient.mssante.fr") is None


class TestFin:
    def test_exactly_fin(self) -> None:
        assert is_fin("[FIN]")

    @pytest.mark.parametrize("subject", ["[fin]", "[FIN] ", " [FIN]", "Re: [FIN]", "[Fin]", "FIN", None, ""])
    def test_variants_do_not_close(self, subject: str | None) -> None:
        assert not is_fin(subject)
        assert state_after(ConversationState.OPEN, subject, from_professional=True) is ConversationState.OPEN

    def test_only_a_professional_closes(self) -> None:
        assert (
            state_after(ConversationState.OPEN, "[FIN]", from_professional=True) is ConversationState.CLOSED
        )
        assert state_after(ConversationState.OPEN, "[FIN]", from_professional=False) is ConversationState.OPEN


class TestWhoWrites:
    def test_reply_only_while_open(self) -> None:
        assert may_reply(ConversationState.OPEN) is None
        assert may_reply(ConversationState.CLOSED) is Refusal.CLOSED

    def test_start_only_with_an_organisational_pharmacy(self) -> None:
        pharmacy = DirectoryEntry("p@ph.mssante.fr", "1", MailboxKind.ORGANISATIONAL, pharmacy=True)
        assert may_start_with(pharmacy) is None
        personal = DirectoryEntry("p@ph.mssante.fr", "1", MailboxKind.PERSONAL, pharmacy=True)
        assert may_start_with(personal) is Refusal.NOT_A_PHARMACY
        service = DirectoryEntry("s@chu.mssante.fr", "1", MailboxKind.ORGANISATIONAL)
        assert may_start_with(service) is Refusal.NOT_A_PHARMACY
        assert may_start_with(None) is Refusal.NOT_IN_DIRECTORY

    def test_reply_subject_once(self) -> None:
        assert reply_subject("Résultats") == "Re: Résultats"
        assert reply_subject("RE: Résultats") == "RE: Résultats"
