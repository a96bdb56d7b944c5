/* Split virtqueue (virtio 1.2, section 2.7), device side. Descriptors and
 * ring entries are copied out of guest memory once and validated on the
 * copy; every buffer address goes through gm_ptr(). */
#ifndef MSBVM_VIRTQ_H
#define MSBVM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/core/mem.h"

#define VIRTQ_MAX_SIZE 256

struct virtq {
	uint16_t num;          /* queue size negotiated (power of two) */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;   /* next avail entry to consume */
	uint16_t used_idx;     /* our copy of used->idx */
	bool event_idx;        /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool broken;           /* guest error seen: no more processing */
	uint16_t signalled_used; /* used idx at the last interrupt */
	bool signalled_valid;
};

struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;        /* device-readable, device-writable */
	struct iovec out[VIRTQ_MAX_SIZE];
	struct iovec in[VIRTQ_MAX_SIZE];
	uint64_t out_len, in_len;    /* totals */
};

/* Checks the ring addresses and size on QUEUE_READY (alignment, in RAM). */
int virtq_validate(struct virtq *vq, const struct guest_mem *gm);
/* 1: a chain was popped; 0: ring empty; <0: guest error (why is set).
 * After an error the queue is broken and the transport sets NEEDS_RESET. */
int virtq_pop(struct virtq *vq, const struct guest_mem *gm,
	      struct virtq_chain *c, const char **why);
/* Puts head on the used ring with len bytes written. */
void virtq_push(struct virtq *vq, const struct guest_mem *gm, uint16_t head,
		uint32_t len);
/* After pushes: should the driver be interrupted (flags / EVENT_IDX)? */
bool virtq_should_notify(struct virtq *vq, const struct guest_mem *gm);
void virtq_reset(struct virtq *vq);
/* Gives back the chain popped last (nothing pushed since): the device had
 * no use for it yet, e.g. nothing to receive after all. */
void virtq_unpop(struct virtq *vq);

/* Copies len bytes starting at byte off of an iovec array into dst; false
 * if the array holds fewer bytes. */
bool virtq_iov_copy(const struct iovec *iov, unsigned n, uint64_t off,
		    void *dst, size_t len);
/* Copies len bytes from src into the iovec array starting at byte off. */
bool virtq_iov_fill(const struct iovec *iov, unsigned n, uint64_t off,
		    const void *src, size_t len);
/* iov[] minus the first skip bytes and capped to max bytes, into out[];
 * returns the number of entries. */
unsigned virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t skip,
			 uint64_t max, struct iovec *out);

#endif
