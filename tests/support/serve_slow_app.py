"""`python -m tests.support.serve_slow_app`: the image's server, serving slow_app."""

from app.server import main

if __name__ == "__main__":
    main(app="tests.support.slow_app:create_app")
