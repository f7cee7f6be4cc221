# The tutorial's application, kept as it describes it: plain `def` handlers.
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root():
    return "Hello World"


@app.get("/info/status")
def read_status():
    return {"status": "ok"}
