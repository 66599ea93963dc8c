"""The evidence beside a prediction: what the model learned from, and how the trial at hand relates to it.

index.py    the learning index: the labelled trials a model learned from, without their criteria text
history.py  drug and condition outcome history (HINT-style risk) from labelled trials
similar.py  the most similar labelled past trials, with what they share
novelty.py  how unlike the learning trials a trial is, in plain words
"""
