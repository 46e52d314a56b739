/* Splitting a streamed body into lines, as Server-Sent Events (OpenAI) and NDJSON (Ollama)
 * arrive: in pieces cut anywhere, a line possibly spread over many of them.  */
#ifndef TARS_MODEL_STREAM_LINES_H
#define TARS_MODEL_STREAM_LINES_H

#include <stdbool.h>
#include <stddef.h>

struct tars_stream_lines
{
  char *buf; /* the incomplete last line */
  size_t len, cap;
  size_t max; /* the longest line accepted; 0: 1 MiB */
};

/* Called with each complete line, its "\n" or "\r\n" removed (LINE is NUL-terminated at LEN).
 * A negative return stops the feed and is returned by it.  */
typedef int (*tars_stream_line_fn)(void *ctx, char *line, size_t len);

/* Feed LEN bytes.  Returns 0, the callback's negative value, or -1 with errno E2BIG when a line
 * is longer than MAX, ENOMEM when out of memory.  */
int tars_stream_lines_feed(struct tars_stream_lines *l, const char *data, size_t len, tars_stream_line_fn fn, void *ctx);
/* At the end of the stream: the last line when it had no newline (passed to FN), as the feed
 * would.  */
int tars_stream_lines_finish(struct tars_stream_lines *l, tars_stream_line_fn fn, void *ctx);
void tars_stream_lines_free(struct tars_stream_lines *l);

#endif
