"""XDS.b vocabulary: the spec's own strings, keyed so that code never repeats a UUID literal.

Sources: IHE ITI TF-3 4.2.5 (classification and identification schemes), ebRIM 3.0 (status, association
types), ITI TF-2a 3.18 (stored query ids), ITI TF-2b and the Metadata Update supplement (ITI-57 types).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ObjectType(StrEnum):
    STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND_DOCUMENT = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
    REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
    ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
    CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
    EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"


class Status(StrEnum):
    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    SUBMITTED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"


class AssociationType(StrEnum):
    HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    REPLACE = "urn:ihe:iti:2007:AssociationType:RPLC"
    APPEND = "urn:ihe:iti:2007:AssociationType:APND"
    TRANSFORM = "urn:ihe:iti:2007:AssociationType:XFRM"
    TRANSFORM_REPLACE = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
    IS_SNAPSHOT_OF = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
    UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
    SUBMIT_ASSOCIATION = "urn:ihe:iti:2010:AssociationType:SubmitAssociation"


#: Document relationships (ITI TF-3 4.2.2): a new DocumentEntry pointing at an existing one.
RELATIONSHIP_TYPES: Final = frozenset(
    {
        AssociationType.REPLACE,
        AssociationType.APPEND,
        AssociationType.TRANSFORM,
        AssociationType.TRANSFORM_REPLACE,
        AssociationType.SIGNS,
        AssociationType.IS_SNAPSHOT_OF,
    }
)
#: Relationships that deprecate their target.
REPLACEMENT_TYPES: Final = frozenset({AssociationType.REPLACE, AssociationType.TRANSFORM_REPLACE})


class ClassificationScheme(StrEnum):
    """classificationScheme of coded attributes and authors (ITI TF-3 Table 4.2.5-1)."""

    DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    DE_HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
    DE_LIMITED_METADATA = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"
    SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    SS_LIMITED_METADATA = "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"
    FOLDER_CODE_LIST = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
    FOLDER_LIMITED_METADATA = "urn:uuid:2c144a76-29a9-4b7c-af54-b25409fe7d03"
    ASSOCIATION_DOCUMENTATION = "urn:uuid:abd807a3-4432-4053-87b4-fd82c643d1f3"


class ClassificationNode(StrEnum):
    """classificationNode that marks a RegistryPackage as a SubmissionSet or a Folder."""

    SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    FOLDER = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"


class IdentificationScheme(StrEnum):
    """identificationScheme of ExternalIdentifiers (ITI TF-3 Table 4.2.5-2)."""

    DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
    FOLDER_PATIENT_ID = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
    FOLDER_UNIQUE_ID = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"


class SlotName(StrEnum):
    CREATION_TIME = "creationTime"
    LANGUAGE_CODE = "languageCode"
    SOURCE_PATIENT_ID = "sourcePatientId"
    SOURCE_PATIENT_INFO = "sourcePatientInfo"
    SERVICE_START_TIME = "serviceStartTime"
    SERVICE_STOP_TIME = "serviceStopTime"
    HASH = "hash"
    SIZE = "size"
    REPOSITORY_UNIQUE_ID = "repositoryUniqueId"
    URI = "URI"
    LEGAL_AUTHENTICATOR = "legalAuthenticator"
    REFERENCE_ID_LIST = "urn:ihe:iti:xds:2013:referenceIdList"
    DOCUMENT_AVAILABILITY = "documentAvailability"
    SUBMISSION_TIME = "submissionTime"
    INTENDED_RECIPIENT = "intendedRecipient"
    LAST_UPDATE_TIME = "lastUpdateTime"
    CODING_SCHEME = "codingScheme"
    AUTHOR_PERSON = "authorPerson"
    AUTHOR_INSTITUTION = "authorInstitution"
    AUTHOR_ROLE = "authorRole"
    AUTHOR_SPECIALTY = "authorSpecialty"
    AUTHOR_TELECOMMUNICATION = "authorTelecommunication"
    SUBMISSION_SET_STATUS = "SubmissionSetStatus"
    PREVIOUS_VERSION = "PreviousVersion"
    ORIGINAL_STATUS = "OriginalStatus"
    NEW_STATUS = "NewStatus"
    ASSOCIATION_PROPAGATION = "AssociationPropagation"


class SoapAction(StrEnum):
    """WS-Addressing actions of the transactions (ITI TF-2; request, then response)."""

    REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
    REGISTER_RESPONSE = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"
    PROVIDE_AND_REGISTER = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    PROVIDE_AND_REGISTER_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
    STORED_QUERY_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    MULTI_PATIENT_QUERY = "urn:ihe:iti:2009:MultiPatientStoredQuery"
    MULTI_PATIENT_QUERY_RESPONSE = "urn:ihe:iti:2009:MultiPatientStoredQueryResponse"
    RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"
    RETRIEVE_RESPONSE = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
    UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
    UPDATE_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
    DELETE = "urn:ihe:iti:2010:DeleteDocumentSet"
    DELETE_RESPONSE = "urn:ihe:iti:2010:DeleteDocumentSetResponse"


class ResponseStatus(StrEnum):
    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


class SubmissionSetStatus(StrEnum):
    ORIGINAL = "Original"
    REFERENCE = "Reference"


#: HL7 Confidentiality (2.16.840.1.113883.5.25) and the DMP masking codes (TRE_A07).
HL7_CONFIDENTIALITY_OID: Final = "2.16.840.1.113883.5.25"
DMP_VISIBILITY_OID: Final = "1.2.250.1.213.1.1.4.13"
