"""The baseline: a minimal Flask app, served with the same gunicorn settings as coop."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
