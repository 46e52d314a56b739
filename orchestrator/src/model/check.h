/* `tars model check`: which server and model the settings resolve to, whether the server
 * answers, whether it has the model, and a one-line test answer with its latency and token
 * counts.  The command prints this; the coordinator may run it before a run starts, to fail
 * early with the reason.  */
#ifndef TARS_MODEL_CHECK_H
#define TARS_MODEL_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "model/chat.h"
#include "model/settings.h"
#include "tars/error.h"

struct tars_model_check
{
  char *chat_url; /* the URL chat requests go to; NULL for replay */
  bool listed;    /* the server answered the model-list request */
  char **models;  /* what it listed (NULL-terminated), or NULL */
  size_t n_models;
  char *list_error; /* why the list could not be had, or NULL */
  int model_found;  /* 1 listed, 0 not listed, -1 unknown (no list, or no model chosen) */
  bool asked;       /* the test question was sent */
  struct tars_chat_response answer;
  size_t replay_exchanges;       /* replay: how many the recording holds */
  enum tars_model_status status; /* TARS_MODEL_OK when all is well */
  char *problem;                 /* otherwise, why: names the URL or the model */
};

void tars_model_check_free(struct tars_model_check *c);
#define cleanup_model_check __attribute__((cleanup(tars_model_check_free)))

/* Run the check.  Returns 0 when it could be run, whatever it found (OUT->status); -1 when it
 * could not (a replay file that does not load, out of memory), with ERR.  */
int tars_model_check_run(const struct tars_model_settings *s, struct tars_model_check *out,
                         struct tars_error *err);

#endif
