"""A user's own fitted pipeline (not trained by tabship): its input contract read from the
fitted steps and the data, the raw-value canonical form it is served with, and the reference
pipeline the gate scores."""
