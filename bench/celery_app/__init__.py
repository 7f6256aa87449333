"""The Celery application of the dispatch benchmark (``bench/celery_side.py``)."""
