"""
Attachments: ``store`` (the SDK's two-phase ``AttachmentStore``, and the
check of the files a message carries), ``uploads`` (content checks and image
previews), ``links`` (signed links, renewed each time an attachment goes to
a client), and ``views`` and ``urls`` (upload, preview, download).
"""
