"""Built-in pipelines (one module each, exposing ``build(settings) -> Pipeline``)."""
