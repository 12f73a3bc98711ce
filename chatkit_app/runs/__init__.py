"""
Replies that outlive the browser (issue 16).

A reply's stream is consumed by a task the server owns (``run.Run``), not
by the HTTP request that asked for it; that request's response is only its
first reader (``owner.own``, the hook ``ChatSiteServer`` hands results to).
A client that hangs up stops the reply or not (``CHATKIT_DISCONNECT``);
``views`` lets a page stop a reply explicitly and reattach to one being
written; ``mirror`` shows runs to other server processes through Redis;
``services`` keeps the ``ReplyRun`` rows (heartbeats, stop requests) and
recovers the replies of processes that died.
"""
