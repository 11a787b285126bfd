"""One module per pipeline stage, what the notebooks call: generate, judge, pairing, train, evaluate, and likelihood
(the learning signal 05 measures). Imports profile/ and below."""
