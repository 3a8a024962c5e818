"""Django's admin over the bench tables (unmanaged models on ``bench_owner``/``bench_item``)."""
