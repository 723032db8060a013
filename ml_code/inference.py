"""The endpoint's entry script (SAGEMAKER_PROGRAM=inference.py) for SageMaker's XGBoost 3.0-5 image.

Defines model_fn and transform_fn only: the image refuses transform_fn next to input_fn / predict_fn /
output_fn, and only transform_fn can turn a bad request into 400/406/415 with a message (an exception
from input_fn would become a 500). The steps themselves are in inference_handlers.py.

Requests: text/csv (with or without a header row) or application/json (an object, a list of objects, or that list
as {"instances": [...]}). Responses by Accept: application/json (default) or text/csv. PREDICTION_THRESHOLD
(default 0.5; the pipeline registers cdk.json's training.label_threshold in the model package's environment) sets
the probability from which a row gets the positive label.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response

import inference_handlers
from inference_handlers import BadRequest, Model


def model_fn(model_dir: str) -> Model:
    return inference_handlers.load_model(Path(model_dir), inference_handlers.threshold_from_env(dict(os.environ)))


def transform_fn(model: Model, request_body: str | bytes, content_type: str, accept: str) -> Response:
    try:
        response_type = inference_handlers.response_type(accept)
        data = inference_handlers.input_fn(request_body, content_type)
        prediction = inference_handlers.predict_fn(data, model)
        body, media_type = inference_handlers.output_fn(prediction, response_type)
    except BadRequest as error:
        return Response(f"{error}\n", status=error.status, mimetype="text/plain")
    return Response(body, status=200, mimetype=media_type)
