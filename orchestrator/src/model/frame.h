/* Frames of the gateway's socket protocol: a 4-byte big-endian length, then that many bytes of
 * one JSON object (UTF-8).  A frame is at most TARS_FRAME_MAX bytes; a longer length, an empty
 * one, text that is not one JSON object, or a string holding "\u0000" (which cJSON would cut
 * silently) is refused.  What arrives on the socket comes from sandboxes: untrusted.  */
#ifndef TARS_MODEL_FRAME_H
#define TARS_MODEL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tars/error.h"

#define TARS_FRAME_MAX (16u << 20)

/* J as a frame, malloc'd, into *OUT and *LEN.  */
int tars_frame_encode(const cJSON *j, char **out, size_t *len, struct tars_error *err);
/* The JSON object of a frame's body (without its length).  TARS_ERR_INVALID when it is not
 * one.  */
int tars_frame_decode(const char *body, size_t len, cJSON **out, struct tars_error *err);

/* Blocking, for the coder's side: write J as one frame; read one frame.  A peer that closes
 * between frames: tars_frame_read returns 0 with *OUT NULL.  */
int tars_frame_write(int fd, const cJSON *j, struct tars_error *err);
int tars_frame_read(int fd, cJSON **out, struct tars_error *err);

/* Non-blocking reading, for the gateway: feed what a ready descriptor has.  */
struct tars_frame_reader
{
  unsigned char head[4];
  size_t head_len;
  char *body;
  size_t body_len, want;
};
/* Read from FD (non-blocking) what it has.  Returns 1 when a frame is complete (*BODY, *LEN:
 * taken by the caller, malloc'd), 0 when more is needed (or EAGAIN), -1 at end of file (errno 0)
 * or on an error (errno set; EMSGSIZE for a bad length).  */
int tars_frame_reader_read(struct tars_frame_reader *r, int fd, char **body, size_t *len);
void tars_frame_reader_free(struct tars_frame_reader *r);

#endif
