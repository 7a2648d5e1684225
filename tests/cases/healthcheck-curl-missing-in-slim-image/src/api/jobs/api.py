from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/jobs")
def submit(payload: dict):
    return {"queued": True}
