import time

import onnxruntime
from flask import Flask, jsonify, request

started = time.monotonic()
print("loading detection model from /models/detector.onnx (2.3 GB)", flush=True)
session = onnxruntime.InferenceSession("/models/detector.onnx")
print(f"model loaded in {time.monotonic() - started:.1f} s", flush=True)

app = Flask(__name__)


@app.route("/detect", methods=["POST"])
def detect():
    return jsonify(session.run(None, {"image": request.get_data()}))


@app.route("/health")
def health():
    return jsonify({"ok": True})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
