"""What the tutorial notebooks 01-05 show: one concrete example per stage, the stage's figures, and the
takeaway sentence drawn from its numbers, one module per notebook (generate, judge, pair, train, evaluate), so
that a notebook's stage key covers its own examples only. Kept here, not in the notebooks, so the notebooks stay
a narrative and these choices are tested.

    from delta_utils.study.examples import generate as examples
    ex = examples.generation_example(traces, problems)   # a problem and one trace per generator
    display(Markdown(examples.generation_markdown(ex)))
    print(examples.generate_takeaway(profile, ladder, traces))

Each `*_example` picks its example by a fixed, stated rule (so the same run shows the same example), and
each `*_markdown` renders it; model text goes in code blocks, so it reads as it was written.
"""
