"""
The review of answers (issue 19): what the admin's review queue lists and
how it is filtered (``selectors``), and the labels staff give an answer
(``labels``). The queue page and the annotate and flag views are the
admin's (``admin/review.py``); the rows (``Annotation``, a conversation's
flag) and their writes are the core's (``models``, ``services``), so the
export and the transcript read them without importing this package.
"""
