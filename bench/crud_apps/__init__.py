"""The REST CRUD benchmark's apps (bench/crud.py): one table, a list of 50 and a create.

Every app serves, on the table ``bench_crud_task(id serial, title varchar(100),
completed boolean)``:

- ``GET /tasks`` (oakling and DRF: their cursor pagination, page size 50;
  FastAPI: ``?limit=50``): the first 50 rows by id as JSON, one SELECT of
  51 (or 50) rows, no COUNT;
- ``POST /tasks`` with ``{"title": ..., "completed": ...}``: validated, inserted
  in a transaction, answered 201 with the new row.
"""
