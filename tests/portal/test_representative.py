"""A legal representative: logs in as himself, switches between his own record and his minor child's,
acts on the minor's record as the FHIR face lets a representative's token, and loses it at 18; a record
he does not represent is never reachable."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.audit.test_fhir_trail import PARENT, PARENT_CX
from tests.audit.test_fhir_trail import dmp as dmp
from tests.core.builders import DMP_PATIENT, INS
from tests.e2e.test_dmp_policy import AUTHOR, OTHER_INS, Dmp, PatientState, document
from tests.portal.helpers import BASE, csrf, login, page, post
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

OTHER = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"


def family(dmp: Dmp, born: date, *, parent_record: bool = True) -> None:
    dmp.record()
    with dmp.database.transaction() as connection:
        directory = SqlPatientDirectory(connection)
        directory.add(DMP_PATIENT, PatientState.ACTIVATED, born)
        if parent_record:
            directory.add(PARENT_CX, PatientState.ACTIVATED, date(1979, 3, 5))
        SqlRecordStore(connection).add_representative(DMP_PATIENT, PARENT_CX)
        directory.add(OTHER, PatientState.ACTIVATED, born)


def years_ago(n: int) -> date:
    today = datetime.now(UTC).date()
    return today.replace(year=today.year - n)


def test_the_dev_login_lists_representatives(dmp: Dmp) -> None:
    family(dmp, years_ago(10))
    html = page(dmp.client, "connexion").text
    assert 'id="ins-representant"' in html and PARENT in html
    assert "Se connecter comme représentant légal" in html


def test_switch_between_own_record_and_the_minors(dmp: Dmp) -> None:
    family(dmp, years_ago(10))
    dmp.deposit(AUTHOR, document())
    login(dmp, PARENT_CX)
    own = page(dmp.client, "documents").text
    assert 'id="dossier"' in own and "Changer de dossier" in own
    assert f"Dossier de <strong>{PARENT}</strong>" in own
    switched = post(dmp.client, "dossier", {"ins": DMP_PATIENT}, token=csrf(own))
    assert switched.status_code == 303
    minor = page(dmp.client, "documents").text
    assert f"Dossier de <strong>{INS}</strong>" in minor and "représentant légal" in minor
    assert "1 document." in minor


def test_a_record_he_does_not_represent_is_refused(dmp: Dmp) -> None:
    family(dmp, years_ago(10))
    login(dmp, PARENT_CX)
    refused = post(dmp.client, "dossier", {"ins": OTHER})
    assert refused.status_code == 403
    assert f"Dossier de <strong>{PARENT}</strong>" in page(dmp.client, "documents").text


def test_at_18_the_minors_record_drops_out(dmp: Dmp) -> None:
    family(dmp, years_ago(19))
    login(dmp, PARENT_CX)
    html = page(dmp.client, "documents").text
    assert 'id="dossier"' not in html
    assert post(dmp.client, "dossier", {"ins": DMP_PATIENT}).status_code == 403


def test_a_representative_without_record_of_his_own_lands_on_the_minors(dmp: Dmp) -> None:
    family(dmp, years_ago(10), parent_record=False)
    assert login(dmp, PARENT_CX).status_code == 303
    assert f"Dossier de <strong>{INS}</strong>" in page(dmp.client, f"{BASE}/documents").text
