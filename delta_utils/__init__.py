"""delta-lab: the package behind the notebooks. Its folders are the layers of the study, lowest first:

    core/      paths, the content-addressed store, statistics, plotting, the sandbox, quiet output, the import graph
    data/      tasks and benchmarks (problems, loaders, answer checking), the rubric, preference-set names, the
               verifier, decontamination, the trace format
    serving/   the model registry, llama.cpp and vLLM servers, the engines that call them, batch judging
    profile/   the profile (config) and a run's folders (stages, manifests, caches)
    stages/    what each notebook runs: generate, judge, pairing, train, evaluate, likelihood
    study/     the study's tables, findings, figures and the notebooks' worked examples
    runner/    running the stages headlessly (pipeline, plan), the checks and estimates of `make check`,
               lm-eval and Hub export

The rule: a module imports only from its own layer or the layers below it, never from one above
(tests/test_imports.py checks it). So a stage's key, which covers the package modules its notebook imports,
never covers the study's figures, and data never knows about models or runs.
"""
