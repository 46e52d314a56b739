/* A model client: one interface over every provider the settings can name (settings.h): Ollama's
 * API, the OpenAI-compatible servers, and the replay file (replay.h).  The gateway, `tars model`
 * and everything above them call this and cannot tell the providers apart.
 *
 * A chat call over HTTP:
 *   - sends the protocol's request (protocol.h) with Content-Type: application/json, an Accept
 *     for the stream or the body, and "Authorization: Bearer KEY" when the settings hold a key
 *     (none otherwise);
 *   - streams the answer when the settings say so (the default), calling ON_DELTA with each
 *     piece: that is what lets the idle timeout tell a slow model from a dead one;
 *   - retries, up to settings.retries times, after a 429 (waiting what Retry-After says when it
 *     says something, and giving up at once when that is longer than settings.max_wait_ms or
 *     than the call's time left), a 5xx, a failed connection or a broken or truncated stream;
 *     between tries it waits settings.backoff_ms, doubled each time, capped at max_wait_ms,
 *     with jitter (between half and all of it) so that coders rate-limited together do not come
 *     back together.  After a retry, ON_DELTA is called with (NULL, 0) to say that the pieces
 *     start again;
 *   - does not retry a timeout (the server is slow: trying again would double the wait), an
 *     answer that does not parse, a missing model, a refused key or any other 4xx;
 *   - fails with a message that names the URL when the server is unreachable or times out, the
 *     model when it is missing (Ollama's 404, OpenAI's model_not_found), and never holds the
 *     key: every message passes through the redactor (redact.h) holding it.
 *
 * On success RESP holds the answer, the usage (the server's, or estimated as bytes / 4 and
 * marked so), the duration and the number of HTTP requests.  On failure it holds the status
 * (chat.h) and the message, and ERR the same message.  */
#ifndef TARS_MODEL_CLIENT_H
#define TARS_MODEL_CLIENT_H

#include <stddef.h>

#include "model/chat.h"
#include "model/protocol.h"
#include "model/settings.h"
#include "tars/error.h"

struct tars_model_client;

/* A client for SETTINGS (copied).  For replay, the recording is loaded and checked now; for
 * HTTP, the URLs are built now and libcurl is loaded on the first call.  */
int tars_model_client_new(const struct tars_model_settings *settings,
                          struct tars_model_client **out, struct tars_error *err);
void tars_model_client_free(struct tars_model_client *c);
void tars_model_client_freep(struct tars_model_client **c);
#define cleanup_model_client __attribute__((cleanup(tars_model_client_freep)))

/* Ask the model (see above).  Returns 0, or -1 with RESP->status and ERR saying why.  RESP is
 * reset first; the caller frees it with tars_chat_response_free either way.  */
int tars_model_chat(struct tars_model_client *c, const struct tars_chat_request *req,
                    tars_delta_fn on_delta, void *ctx, struct tars_chat_response *resp,
                    struct tars_error *err);

/* The models the server offers (GET /api/tags or /v1/models; one request, no retries), as
 * malloc'd names, NULL-terminated.  Replay: the models named in the recording.  Returns -1 with
 * *STATUS and ERR saying why.  */
int tars_model_list(struct tars_model_client *c, char ***names, size_t *n,
                    enum tars_model_status *status, struct tars_error *err);
/* Whether NAME, as the list gives it, is the model WANTED (Ollama: "llama3" is "llama3:latest"). */
bool tars_model_same(const struct tars_model_client *c, const char *name, const char *wanted);

/* The settings the client was made with, and the URLs it calls (NULL for replay).  */
const struct tars_model_settings *tars_model_client_settings(const struct tars_model_client *c);
const char *tars_model_client_chat_url(const struct tars_model_client *c);
/* The redactor holding the client's key, for whoever writes about its exchanges.  */
const struct tars_redactor *tars_model_client_redactor(const struct tars_model_client *c);

/* For tests: replace the waits between retries (NULL: nanosleep).  */
void tars_model_client_set_sleep(struct tars_model_client *c, void (*sleep_ms)(long ms));

#endif
