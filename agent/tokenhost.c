/*
 * tokenhost.c: the process that owns one PKCS#11 module.
 *
 * The main thread reads requests from the agent and hands each to the
 * worker of the slot it names; a worker owns its slot's session and index
 * and runs its queue in order, so a slow card delays only its own keys.
 * Workers write their replies themselves, one frame at a time under wlock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "p11.h"
#include "p11err.h"
#include "secret.h"
#include "tokenhost.h"

/*
 * The largest request the agent sends is an operation with a key id,
 * label, data and PIN at their limits, under 26 KiB; a longer frame is
 * not a request. Input is read into locked memory as it carries PINs.
 */
#define IN_MAX (64 * 1024)

/* How long workers get to finish the call they are in at exit. */
#define STOP_SECONDS 5

/*
 * A reply owed once every worker has done its part: HOST_INDEX after a
 * refresh (each re-reads its token), OK after a poll (each looks for a
 * card event, and the index goes first if one saw any).
 */
struct countdown {
	uint32_t id;
	int poll;
	int changed;		/* a poll saw an event; under host.lock */
	size_t pending;		/* under host.lock */
};

struct job {
	struct job *next;
	struct ca_msg msg;	/* a request, unless cd is set */
	struct countdown *cd;	/* refresh or poll, then count down */
};

struct worker {
	pthread_t thread;
	struct p11_token p11;

	pthread_mutex_t qlock;	/* head, tail, stop */
	pthread_cond_t qcond;
	struct job *head, **tail;
	int stop;

	/*
	 * The token's part of the index. Only the worker changes it, under
	 * ilock; it reads its own without, everyone else under ilock.
	 * tok.id is NULL until the token has been read once.
	 */
	pthread_mutex_t ilock;
	struct ca_token tok;
	struct ca_key *keys;
	size_t nkeys;

	/* The slot's presence at the last look; -1 before the first. */
	int polled;
};

/*
 * Lock order: wlock, then lock, then the workers' ilocks in array order
 * or one qlock. A worker takes its own ilock or qlock holding nothing.
 */
static struct {
	int fd;
	struct p11_module mod;
	pthread_mutex_t wlock;	/* writing to fd; orders index snapshots */
	pthread_mutex_t lock;	/* workers, nworkers, countdowns */
	struct worker **workers;
	size_t nworkers;
} host = {
	.fd = -1,
	.wlock = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		/* A dead agent must not kill us with SIGPIPE mid-reply. */
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes one encoded frame; the caller holds wlock. */
static void
write_frame(const struct ca_wr *w)
{
	if (write_all(host.fd, w->p, w->len) != 0)
		log_warn("writing to the agent: %m");
}

static void
send_msg(const struct ca_msg *m)
{
	struct ca_wr w;
	enum ca_perr e;

	ca_wr_init(&w, CA_FRAME_HDR + CA_FRAME_MAX);
	if ((e = ca_msg_encode(m, &w)) != CA_PE_OK)
		log_warn("cannot encode message type 0x%02x: %s", m->type,
		    ca_perr_str(e));
	else {
		pthread_mutex_lock(&host.wlock);
		write_frame(&w);
		pthread_mutex_unlock(&host.wlock);
	}
	ca_wr_free(&w);
}

static void __attribute__((format(printf, 3, 4)))
reply_error(uint32_t id, enum ca_status status, const char *fmt, ...)
{
	char text[512];
	struct ca_msg r;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	r.type = CA_MSG_ERROR;
	r.id = id;
	r.u.error.code = status;
	r.u.error.text = text;
	send_msg(&r);
}

static void
reply_ok(uint32_t id)
{
	struct ca_msg r;

	memset(&r, 0, sizeof(r));
	r.type = CA_MSG_OK;
	r.id = id;
	send_msg(&r);
}

/*
 * Sends every token's part of the index. The snapshot is taken under
 * wlock, so an index sent later is never older than one sent before it.
 */
static void
push_index(uint32_t id)
{
	struct ca_token *toks = NULL;
	struct ca_key *keys = NULL;
	struct worker *w;
	struct ca_msg m;
	struct ca_wr wr;
	size_t i, nt = 0, nk = 0;
	enum ca_perr e = CA_PE_NOMEM;

	ca_wr_init(&wr, CA_FRAME_HDR + CA_FRAME_MAX);
	pthread_mutex_lock(&host.wlock);
	pthread_mutex_lock(&host.lock);
	for (i = 0; i < host.nworkers; i++) {
		w = host.workers[i];
		pthread_mutex_lock(&w->ilock);
		if (w->tok.id != NULL) {
			nt++;
			nk += w->nkeys;
		}
	}
	if ((nt == 0 || (toks = calloc(nt, sizeof(*toks))) != NULL) &&
	    (nk == 0 || (keys = calloc(nk, sizeof(*keys))) != NULL)) {
		/* Shallow copies: the ilocks keep the originals alive. */
		nt = nk = 0;
		for (i = 0; i < host.nworkers; i++) {
			w = host.workers[i];
			if (w->tok.id == NULL)
				continue;
			toks[nt++] = w->tok;
			if (w->nkeys > 0)
				memcpy(keys + nk, w->keys,
				    w->nkeys * sizeof(*keys));
			nk += w->nkeys;
		}
		if (nt > CA_LIST_MAX || nk > CA_LIST_MAX)
			log_warn("index truncated to %d tokens and keys",
			    CA_LIST_MAX);
		memset(&m, 0, sizeof(m));
		m.type = CA_MSG_HOST_INDEX;
		m.id = id;
		m.u.list.tokens = toks;
		m.u.list.ntokens = nt < CA_LIST_MAX ? nt : CA_LIST_MAX;
		m.u.list.keys = keys;
		m.u.list.nkeys = nk < CA_LIST_MAX ? nk : CA_LIST_MAX;
		e = ca_msg_encode(&m, &wr);
	}
	for (i = 0; i < host.nworkers; i++)
		pthread_mutex_unlock(&host.workers[i]->ilock);
	pthread_mutex_unlock(&host.lock);
	free(toks);
	free(keys);
	if (e == CA_PE_OK)
		write_frame(&wr);
	pthread_mutex_unlock(&host.wlock);
	ca_wr_free(&wr);
	if (e != CA_PE_OK) {
		log_warn("cannot send the index: %s", ca_perr_str(e));
		if (id != 0)
			reply_error(id, CA_E_INTERNAL, "the token index "
			    "cannot be sent");
	}
}

static void
job_free(struct job *j)
{
	ca_msg_clear(&j->msg);
	free(j);
}

/* The reply a refresh or poll owes once every worker is done with it. */
static void
countdown_reply(const struct countdown *cd)
{
	if (!cd->poll)
		push_index(cd->id);
	else {
		if (cd->changed)
			push_index(0);
		reply_ok(cd->id);
	}
}

/* One worker is done with cd (changed: its poll saw an event); the last
 * sends the reply, unless send is 0 (the host is stopping). */
static void
countdown_done(struct countdown *cd, int send, int changed)
{
	int last;

	pthread_mutex_lock(&host.lock);
	cd->changed |= changed;
	last = --cd->pending == 0;
	pthread_mutex_unlock(&host.lock);
	if (!last)
		return;
	if (send)
		countdown_reply(cd);
	free(cd);
}

static const char *
tlabel(const struct worker *w)
{
	return w->tok.label != NULL ? w->tok.label : "";
}

static void
worker_set_index(struct worker *w, struct ca_token *tok,
    struct ca_key *keys, size_t nkeys)
{
	struct ca_token otok;
	struct ca_key *okeys;
	size_t onkeys, i;

	pthread_mutex_lock(&w->ilock);
	otok = w->tok;
	okeys = w->keys;
	onkeys = w->nkeys;
	w->tok = *tok;
	w->keys = keys;
	w->nkeys = nkeys;
	pthread_mutex_unlock(&w->ilock);
	ca_token_clear(&otok);
	for (i = 0; i < onkeys; i++)
		ca_key_clear(&okeys[i]);
	free(okeys);
}

static void
worker_set_flags(struct worker *w, uint32_t flags)
{
	pthread_mutex_lock(&w->ilock);
	w->tok.flags = flags;
	pthread_mutex_unlock(&w->ilock);
}

/*
 * Re-reads the token. An emptied slot keeps its token's last entry,
 * marked absent, so its keys answer "token not present", not "no key".
 */
static CK_RV
worker_reindex(struct worker *w)
{
	struct ca_token tok;
	struct ca_key *keys;
	size_t nkeys;
	CK_RV rv;

	if ((rv = p11_read_index(&w->p11, &tok, &keys, &nkeys)) == CKR_OK) {
		worker_set_index(w, &tok, keys, nkeys);
		return CKR_OK;
	}
	if (p11_status(rv) == CA_E_TOKEN_ABSENT) {
		if (w->tok.id != NULL)
			worker_set_flags(w, w->tok.flags &
			    ~(CA_TOK_PRESENT | CA_TOK_LOGGED_IN));
	} else
		log_warn("reading the token in slot %lu: %s (0x%lx)",
		    (unsigned long)w->p11.slot, p11_rv_name(rv),
		    (unsigned long)rv);
	return rv;
}

/* The session died under a request; the next request opens a new one. */
static void
worker_lost(struct worker *w)
{
	uint32_t fl = w->tok.flags & ~(CA_TOK_PRESENT | CA_TOK_LOGGED_IN);

	if (p11_present(&w->p11)) {
		fl |= CA_TOK_PRESENT;
		if (!(fl & CA_TOK_LOGIN_REQUIRED))
			fl |= CA_TOK_LOGGED_IN;
	}
	worker_set_flags(w, fl);
	push_index(0);
}

/*
 * A card pulled during a call makes some modules answer with a plain
 * failure (OpenSC: CKR_GENERAL_ERROR) rather than DEVICE_REMOVED: when the
 * slot is empty right after, it was the removal, and is reported so.
 */
static void
worker_removed_mid_call(struct worker *w, struct p11_fail *f)
{
	if ((f->rv != CKR_GENERAL_ERROR && f->rv != CKR_DEVICE_ERROR &&
	    f->rv != CKR_FUNCTION_FAILED) || p11_present(&w->p11))
		return;
	w->p11.open = 0;
	f->status = CA_E_TOKEN_ABSENT;
	snprintf(f->why, sizeof(f->why), "the card was removed");
}

/* After a failed operation: tell the agent what changed on the token. */
static void
worker_after(struct worker *w, const struct p11_fail *f)
{
	uint32_t fl;

	if (!w->p11.open) {
		worker_lost(w);
		return;
	}
	if (!f->ctx_login && f->status != CA_E_PIN_INCORRECT &&
	    f->status != CA_E_PIN_LOCKED && f->status != CA_E_PIN_REQUIRED)
		return;
	if (p11_read_flags(&w->p11, &fl) != CKR_OK) {
		if (!w->p11.open)
			worker_lost(w);
		return;
	}
	/* A failed context login always counts: the PIN was tried. */
	if (fl != w->tok.flags || f->ctx_login) {
		worker_set_flags(w, fl);
		push_index(0);
	}
}

static void
report(struct worker *w, uint32_t id, const char *what,
    const struct p11_fail *f)
{
	const char *detail = f->why[0] != '\0' ? f->why :
	    ca_status_str(f->status);

	if (f->rv != CKR_OK)
		log_warn("%s on token '%s': %s: %s (0x%lx)", what, tlabel(w),
		    f->fn, p11_rv_name(f->rv), (unsigned long)f->rv);
	else
		log_warn("%s on token '%s' refused: %s", what, tlabel(w),
		    detail);
	reply_error(id, f->status, "%s on token '%s' failed: %s", what,
	    tlabel(w), detail);
}

static const struct ca_key *
worker_key(const struct worker *w, const char *id)
{
	size_t i;

	for (i = 0; i < w->nkeys; i++)
		if (strcmp(w->keys[i].id, id) == 0)
			return &w->keys[i];
	return NULL;
}

static void
worker_op(struct worker *w, const struct ca_msg *m)
{
	const char *what = m->type == CA_MSG_SIGN ? "signing" :
	    m->type == CA_MSG_DECRYPT ? "decryption" : "key derivation";
	const struct ca_key *k;
	struct p11_fail f;
	struct ca_msg r;
	CK_RV rv;
	int rc;

	if ((k = worker_key(w, m->u.op.key_id)) == NULL)
		goto nokey;
	if (p11_check(&w->p11, k, m, &f) != 0)
		goto fail;
	if (!w->p11.open) {
		/* After a lost session the slot may hold another token. */
		rv = worker_reindex(w);
		push_index(0);
		if (rv != CKR_OK) {
			f.status = p11_status(rv);
			f.rv = rv;
			f.fn = "reading the token";
			goto fail;
		}
		if ((k = worker_key(w, m->u.op.key_id)) == NULL)
			goto nokey;
		if (p11_check(&w->p11, k, m, &f) != 0)
			goto fail;
	}
	memset(&r, 0, sizeof(r));
	r.id = m->id;
	switch (m->type) {
	case CA_MSG_SIGN:
		r.type = CA_MSG_SIGNATURE;
		rc = p11_sign(&w->p11, k, m, &r.u.sig.data, &r.u.sig.len, &f);
		break;
	case CA_MSG_DECRYPT:
		r.type = CA_MSG_SECRET;
		rc = p11_decrypt(&w->p11, k, m, &r.u.secret, &f);
		break;
	default:
		r.type = CA_MSG_SECRET;
		rc = p11_derive(&w->p11, k, m, &r.u.secret, &f);
		break;
	}
	if (rc == 0) {
		send_msg(&r);
		ca_msg_clear(&r);
		return;
	}
	worker_removed_mid_call(w, &f);
	worker_after(w, &f);
 fail:
	report(w, m->id, what, &f);
	return;
 nokey:
	reply_error(m->id, CA_E_NO_KEY, "%s failed: no key %s on token '%s'",
	    what, m->u.op.key_id, tlabel(w));
}

static void
worker_login(struct worker *w, const struct ca_msg *m)
{
	struct p11_fail f;
	int rc;

	if (m->u.login.pin == NULL &&
	    !(w->tok.flags & CA_TOK_PROTECTED_PATH)) {
		reply_error(m->id, CA_E_PIN_REQUIRED, "login on token '%s' "
		    "failed: a PIN is needed", tlabel(w));
		return;
	}
	rc = p11_login(&w->p11, m->u.login.pin, &f);
	/* Either way the PIN counters, and on success the keys, changed. */
	(void)worker_reindex(w);
	push_index(0);
	if (rc == 0)
		reply_ok(m->id);
	else
		report(w, m->id, "login", &f);
}

static void
worker_lock(struct worker *w, const struct ca_msg *m)
{
	struct p11_fail f;
	int rc;

	rc = p11_logout(&w->p11, &f);
	(void)worker_reindex(w);
	push_index(0);
	if (rc == 0)
		reply_ok(m->id);
	else
		report(w, m->id, "logout", &f);
}

/*
 * Looks for a card event in w's slot: a token that came or went, or one
 * pulled and put back since the last look (its session is dead). A slot
 * that changed is read again. Returns whether it changed.
 */
static int
worker_poll(struct worker *w)
{
	int present = p11_present(&w->p11), was = w->polled, indexed;

	/*
	 * Presence is compared with the last poll's and with the index's. A
	 * slot whose token cannot be served (SoftHSM's blank spare) has no
	 * index entry: it counts as indexed as it is, or it would be
	 * "inserted" at every poll. A token marked absent between two polls
	 * (pulled mid-call) and back by the next differs from the index.
	 */
	indexed = w->tok.id != NULL ? (w->tok.flags & CA_TOK_PRESENT) != 0 :
	    present;
	w->polled = present;
	/* A worker a poll has just started (was -1) has read nothing yet. */
	if (present == (was == -1 ? 0 : was) && present == indexed &&
	    (!present || p11_session_alive(&w->p11)))
		return 0;
	if (present != was)
		log_info("token '%s' in slot %lu %s", tlabel(w),
		    (unsigned long)w->p11.slot, present ? "inserted" :
		    "removed");
	/* Whatever was cached for the old session is gone with it. */
	w->p11.open = 0;
	(void)worker_reindex(w);
	return 1;
}

static void
worker_run(struct worker *w, struct job *j)
{
	if (j->cd != NULL) {
		if (j->cd->poll)
			countdown_done(j->cd, 1, worker_poll(w));
		else {
			(void)worker_reindex(w);
			w->polled = p11_present(&w->p11);
			countdown_done(j->cd, 1, 0);
		}
		return;
	}
	switch (j->msg.type) {
	case CA_MSG_LOGIN:
		worker_login(w, &j->msg);
		break;
	case CA_MSG_LOCK:
		worker_lock(w, &j->msg);
		break;
	default:
		worker_op(w, &j->msg);
		break;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&w->qlock);
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->qcond, &w->qlock);
		if (w->stop) {
			pthread_mutex_unlock(&w->qlock);
			break;
		}
		j = w->head;
		if ((w->head = j->next) == NULL)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->qlock);
		worker_run(w, j);
		job_free(j);
	}
	return NULL;
}

static void
enqueue(struct worker *w, struct job *j)
{
	pthread_mutex_lock(&w->qlock);
	j->next = NULL;
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
}

/* Frees a worker whose thread has ended or never started. */
static void
worker_free(struct worker *w)
{
	struct job *j;
	size_t i;

	while ((j = w->head) != NULL) {
		w->head = j->next;
		if (j->cd != NULL)
			countdown_done(j->cd, 0, 0);
		job_free(j);
	}
	ca_token_clear(&w->tok);
	for (i = 0; i < w->nkeys; i++)
		ca_key_clear(&w->keys[i]);
	free(w->keys);
	pthread_mutex_destroy(&w->qlock);
	pthread_cond_destroy(&w->qcond);
	pthread_mutex_destroy(&w->ilock);
	free(w);
}

/* Starts a worker for slot; the caller holds host.lock. */
static void
worker_start(CK_SLOT_ID slot)
{
	struct worker *w, **nw;
	int r;

	nw = reallocarray(host.workers, host.nworkers + 1, sizeof(*nw));
	if (nw == NULL || (w = calloc(1, sizeof(*w))) == NULL) {
		if (nw != NULL)
			host.workers = nw;
		log_warn("out of memory for slot %lu", (unsigned long)slot);
		return;
	}
	host.workers = nw;
	w->p11.mod = &host.mod;
	w->p11.slot = slot;
	w->polled = -1;
	w->tail = &w->head;
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qcond, NULL);
	pthread_mutex_init(&w->ilock, NULL);
	if ((r = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		log_warn("cannot start a thread for slot %lu: %s",
		    (unsigned long)slot, strerror(r));
		worker_free(w);
		return;
	}
	host.workers[host.nworkers++] = w;
}

/*
 * Looks for new slots, then has every worker re-read its token (a
 * refresh: the last one to finish sends the index with id) or look for a
 * card event (a poll: the last one sends OK with id, after the index if
 * anything changed).
 */
static void
rescan(uint32_t id, int poll)
{
	struct countdown *cd;
	CK_SLOT_ID *slots;
	struct job *j;
	size_t nslots, i, k;
	CK_RV rv;
	int last;

	if ((rv = p11_slots(&host.mod, &slots, &nslots)) != CKR_OK)
		log_warn("C_GetSlotList: %s (0x%lx)", p11_rv_name(rv),
		    (unsigned long)rv);
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		free(slots);
		log_warn("out of memory");
		if (id != 0)
			reply_error(id, CA_E_INTERNAL, "out of memory");
		return;
	}
	cd->id = id;
	cd->poll = poll;
	pthread_mutex_lock(&host.lock);
	for (i = 0; i < nslots; i++) {
		for (k = 0; k < host.nworkers; k++)
			if (host.workers[k]->p11.slot == slots[i])
				break;
		if (k == host.nworkers) {
			worker_start(slots[i]);
			cd->changed = 1;
		}
	}
	/* Workers count down under host.lock, so none can finish early. */
	for (i = 0; i < host.nworkers; i++) {
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			log_warn("out of memory");
			continue;
		}
		j->cd = cd;
		cd->pending++;
		enqueue(host.workers[i], j);
	}
	last = cd->pending == 0;
	pthread_mutex_unlock(&host.lock);
	free(slots);
	if (last) {
		countdown_reply(cd);
		free(cd);
	}
}

/* The worker serving the token or key named id, or NULL. */
static struct worker *
route(const char *id, int is_key)
{
	struct worker *w, *found = NULL;
	size_t i, k;

	if (*id == '\0')
		return NULL;
	pthread_mutex_lock(&host.lock);
	for (i = 0; i < host.nworkers && found == NULL; i++) {
		w = host.workers[i];
		pthread_mutex_lock(&w->ilock);
		if (!is_key && w->tok.id != NULL && strcmp(w->tok.id, id) == 0)
			found = w;
		for (k = 0; is_key && found == NULL && k < w->nkeys; k++)
			if (strcmp(w->keys[k].id, id) == 0)
				found = w;
		pthread_mutex_unlock(&w->ilock);
	}
	pthread_mutex_unlock(&host.lock);
	return found;
}

/* Handles one frame body; -1 when the agent sent something malformed. */
static int
dispatch(const uint8_t *body, size_t len)
{
	struct worker *w;
	struct job *j;
	enum ca_perr e;
	int is_key;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("out of memory");
		return -1;
	}
	if ((e = ca_msg_decode(body, len, &j->msg)) != CA_PE_OK) {
		log_warn("malformed message from the agent: %s",
		    ca_perr_str(e));
		free(j);
		return -1;
	}
	switch (j->msg.type) {
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		is_key = 1;
		w = route(j->msg.u.op.key_id, is_key);
		break;
	case CA_MSG_LOGIN:
	case CA_MSG_LOCK:
		/* The agent resolves "every token" itself. */
		is_key = 0;
		w = route(j->msg.u.login.token_id, is_key);
		break;
	case CA_MSG_HOST_REFRESH:
	case CA_MSG_HOST_POLL:
		rescan(j->msg.id, j->msg.type == CA_MSG_HOST_POLL);
		job_free(j);
		return 0;
	default:
		log_warn("unexpected message type 0x%02x from the agent",
		    j->msg.type);
		reply_error(j->msg.id, CA_E_PROTOCOL, "the token host does "
		    "not serve this request");
		job_free(j);
		return 0;
	}
	if (w == NULL) {
		reply_error(j->msg.id, CA_E_NO_KEY, "no such %s",
		    is_key ? "key" : "token");
		job_free(j);
		return 0;
	}
	enqueue(w, j);
	return 0;
}

/* Reads and dispatches frames until the channel closes; the exit status. */
static int
serve(void)
{
	struct ca_secret *in;
	struct ca_rd rd;
	size_t have = 0, blen, used;
	uint32_t flen;
	ssize_t n;
	enum ca_perr e;
	int status = 1;

	if ((in = ca_secret_new(IN_MAX)) == NULL) {
		log_warn("out of memory");
		return 1;
	}
	for (;;) {
		if ((n = read(host.fd, in->data + have, in->cap - have)) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("reading from the agent: %m");
			break;
		}
		if (n == 0) {
			if (have == 0)
				status = 0;
			else
				log_warn("the agent closed the channel "
				    "mid-frame");
			break;
		}
		have += (size_t)n;
		used = 0;
		while ((e = ca_frame_check(in->data + used, have - used,
		    &blen)) == CA_PE_OK) {
			if (dispatch(in->data + used + CA_FRAME_HDR, blen) != 0)
				goto out;
			used += CA_FRAME_HDR + blen;
		}
		/* Keep the partial frame; wipe what held the rest. */
		memmove(in->data, in->data + used, have - used);
		explicit_bzero(in->data + have - used, used);
		have -= used;
		if (e == CA_PE_INCOMPLETE && have >= CA_FRAME_HDR) {
			ca_rd_init(&rd, in->data, CA_FRAME_HDR);
			(void)ca_rd_u32(&rd, &flen);
			if (flen > in->cap - CA_FRAME_HDR)
				e = CA_PE_TOO_LONG;
		}
		if (e != CA_PE_INCOMPLETE) {
			log_warn("bad frame from the agent: %s", ca_perr_str(e));
			break;
		}
	}
 out:
	ca_secret_free(in);
	return status;
}

/* Stops and frees every worker; -1 if one is stuck inside the module. */
static int
stop_workers(void)
{
	struct timespec deadline;
	struct worker *w;
	size_t i;

	for (i = 0; i < host.nworkers; i++) {
		w = host.workers[i];
		pthread_mutex_lock(&w->qlock);
		w->stop = 1;
		pthread_cond_signal(&w->qcond);
		pthread_mutex_unlock(&w->qlock);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_SECONDS;
	for (i = 0; i < host.nworkers; i++)
		if (pthread_timedjoin_np(host.workers[i]->thread, NULL,
		    &deadline) != 0)
			return -1;
	for (i = 0; i < host.nworkers; i++)
		worker_free(host.workers[i]);
	free(host.workers);
	host.workers = NULL;
	host.nworkers = 0;
	return 0;
}

int
tokenhost_main(const char *module, int fd, int use_syslog)
{
	int status;

	log_init("cardagent-host", !use_syslog, LOG_LVL_INFO);
	host.fd = fd;
	if (p11_module_load(&host.mod, module) != 0)
		return 1;
	rescan(0, 0);
	status = serve();
	if (stop_workers() != 0) {
		/*
		 * Finalising under a thread that is still inside the
		 * module, or running exit handlers, could crash or hang.
		 */
		log_warn("a PKCS#11 call did not return; exiting at once");
		_exit(status);
	}
	p11_module_unload(&host.mod);
	return status;
}
