/* Redaction: what tars writes about model exchanges (the store, the audit trail, recordings,
 * logs) never holds the key or anything that looks like a secret.  Models echo their prompts,
 * repositories hold tokens, servers put headers in error messages: so every text is redacted
 * on its way out, not only the places where the key is known to pass.
 *
 * Replaced by "[REDACTED]":
 *   - the secrets given to the redactor (the API key), wherever they appear, when at least
 *     TARS_REDACT_MIN_SECRET bytes long (a shorter one would blank ordinary words);
 *   - the value of an Authorization or Proxy-Authorization header, to the end of the line or
 *     of the quoted string, and the token after "Bearer ";
 *   - common token shapes, when not preceded by a letter, digit or '_': OpenAI and Anthropic keys
 *     (sk-...), GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), Slack tokens
 *     (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-), AWS access key ids (AKIA..., ASIA...), Google API keys
 *     (AIza...), GitLab (glpat-) and Hugging Face (hf_) tokens, JSON Web Tokens (eyJ...eyJ...),
 *     and PEM private key blocks (BEGIN ... PRIVATE KEY to its END, or to the end of the text).
 *
 * Redaction may hide a harmless string that has a token's shape; it never leaves a matching
 * one.  */
#ifndef TARS_MODEL_REDACT_H
#define TARS_MODEL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define TARS_REDACTED "[REDACTED]"
#define TARS_REDACT_MIN_SECRET 6
#define TARS_REDACT_MAX_SECRETS 8

struct tars_redactor
{
  char *secrets[TARS_REDACT_MAX_SECRETS];
  size_t n_secrets;
};

void tars_redactor_init(struct tars_redactor *r);
/* Free the copies of the secrets (wiped first).  */
void tars_redactor_free(struct tars_redactor *r);
#define cleanup_redactor __attribute__((cleanup(tars_redactor_free)))
/* Add a secret (copied).  NULL, empty or too short: ignored.  Returns -1 (ENOMEM, or more than
 * TARS_REDACT_MAX_SECRETS) without adding it.  */
int tars_redactor_add(struct tars_redactor *r, const char *secret);

/* TEXT redacted, malloc'd (NULL only when out of memory).  R may be NULL: the patterns only.  */
char *tars_redact(const struct tars_redactor *r, const char *text);
/* TEXT with only R's secrets replaced, not the patterns: for text that must stay what it is
 * (an answer the coder applies may hold a token-shaped test fixture), but must not carry the
 * key to where it may not go.  */
char *tars_redact_secrets(const struct tars_redactor *r, const char *text);
/* True when TEXT holds something tars_redact would replace.  */
bool tars_redact_needed(const struct tars_redactor *r, const char *text);
/* Redact every string of J (object keys too) in place.  Returns -1 when out of memory, with
 * the strings redacted so far; a caller then drops J.  */
int tars_redact_json(const struct tars_redactor *r, cJSON *j);

#endif
