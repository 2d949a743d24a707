"""An upload handler that stops reading a multipart body once it passes MAX_REQUEST_BYTES.

RequestSizeLimitMiddleware refuses a body by its declared length before any of it is read;
this handler is the second line for a body whose length was not declared or not true (a
server in front that hands on more than it said): parsing stops at the limit instead of
spooling whatever arrives to disk.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class RequestTooLarge(RequestDataTooBig):
    """A 413 from RequestSizeLimitMiddleware when a view meets it; elsewhere Django's 400."""


class RequestSizeLimitHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts the file bytes of the whole request and passes them on."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_REQUEST_BYTES:
            raise RequestTooLarge(f"The upload passed MAX_REQUEST_BYTES ({settings.MAX_REQUEST_BYTES}).")
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
