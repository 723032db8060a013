"""The Python client example in docs/consuming-the-endpoint.md runs as written, against SageMaker Runtime's model.

The example is taken from the page, compiled and executed; its boto3 client is answered by botocore's Stubber (which
checks each request against the service model) or, for timeouts, fails in botocore's send step so that the real
retry logic runs.
"""

from __future__ import annotations

import io
import re
import types
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

DOC = Path(__file__).resolve().parents[2] / "docs" / "consuming-the-endpoint.md"
ROWS = [{"age": 39, "workclass": "State-gov"}]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    (source,) = code_blocks("python")
    module = types.ModuleType("endpoint_client_example")
    exec(compile(source, f"{DOC}:python", "exec"), module.__dict__)
    return module


def stubbed(example: types.ModuleType) -> Stubber:
    return Stubber(example.runtime)


def expected_request(body: str) -> dict[str, str]:
    return {"EndpointName": "mlops-prod", "ContentType": "application/json", "Accept": "application/json", "Body": body}


def test_the_page_has_one_python_and_one_ruby_example() -> None:
    assert len(code_blocks("python")) == 1 and len(code_blocks("ruby")) == 1


def test_scores_come_back_as_the_predictions_list(example) -> None:
    answer = b'{"predictions": [{"probability": 0.81, "label": ">50K"}]}'
    with stubbed(example) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
            expected_request('[{"age": 39, "workclass": "State-gov"}]'),
        )
        assert example.score(ROWS) == [{"probability": 0.81, "label": ">50K"}]


def test_a_4xx_from_the_model_is_a_rejected_request_with_its_message(example) -> None:
    message = "row 1, column 'age': expected a number"
    with stubbed(example) as stub:
        # InvokeEndpoint: a container 4XX/5XX reaches the caller as ModelError (HTTP 424) with the original status.
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            http_status_code=424,
            modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": message},
        )
        with pytest.raises(example.RejectedRequest, match=re.escape(message)):
            example.score(ROWS)


def test_a_5xx_from_the_model_is_raised_as_is(example) -> None:
    with stubbed(example) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            http_status_code=424,
            modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "Internal Server Error"},
        )
        with pytest.raises(ClientError) as raised:
            example.score(ROWS)
        assert not isinstance(raised.value, example.RejectedRequest)


def test_a_timeout_is_retried_then_means_try_later(example, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = []

    def time_out(request, **kwargs):
        attempts.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    monkeypatch.setattr("time.sleep", lambda seconds: None)  # botocore's backoff between attempts
    example.runtime.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", time_out)
    assert example.score(ROWS) is None
    assert len(attempts) == 3  # total_max_attempts in the example's retry configuration


def test_an_inference_id_goes_with_the_request_for_the_label_join(example) -> None:
    # Data capture records InvokeEndpoint's InferenceId as eventMetadata.inferenceId (docs/monitoring.md).
    answer = b'{"predictions": [{"probability": 0.81, "label": ">50K"}]}'
    with stubbed(example) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
            {**expected_request('[{"age": 39, "workclass": "State-gov"}]'), "InferenceId": "order-17"},
        )
        assert example.score(ROWS, inference_id="order-17") == [{"probability": 0.81, "label": ">50K"}]
