"""What the topic is told about an upload not trained (notices.py): once per version, under a subject SNS takes."""

from __future__ import annotations

from constructs.training_trigger_lambda.training_trigger import (
    notices,
    on_upload,
)
from tests.infra.support.trigger_world import (
    ROW,
    Aws,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    notifications,
    upload,
)


def test_duplicate_delivery_of_a_rejected_upload_notifies_once(aws: Aws) -> None:
    event = upload(aws, "incoming/extra.csv", b"age,workclass,income-per-year,ssn\n" + ROW)

    first, second = on_upload.handler(event, None), on_upload.handler(event, None)

    reason = "unknown columns 'ssn' (not in the data contract's features or ignored_columns)"
    assert first == second == {"status": "rejected", "reason": reason}
    assert len(notifications(aws)) == 1


def test_a_long_key_keeps_its_file_name_in_a_subject_sns_takes() -> None:
    subject = notices.notification_subject("prod", "incoming/" + "deep/" * 40 + "export-2026-12-05.csv")
    assert len(subject) < 100  # "less than 100 characters long" (Amazon SNS API reference, Publish)
    assert subject.startswith("[prod] Upload rejected: ...")
    assert subject.endswith("/export-2026-12-05.csv")
