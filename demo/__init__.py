"""echostream.demo — the Gradio app (upload and live view)."""
