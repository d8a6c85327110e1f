"""The model page: one self-contained HTML document (CSS, JS and plots inlined) describing a
served version, with a form that scores one row through /v1/predict. `GET /` serves it and
`tabship report` writes the same page to a file."""
