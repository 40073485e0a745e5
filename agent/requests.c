#define _GNU_SOURCE
#include "requests.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "client.h"
#include "hosts.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "prompt.h"
#include "scope.h"
#include "secret.h"

struct request;
typedef void (*next_fn)(struct request *r);

struct request {
	struct client *c;	/* NULL once the client has gone */
	uint32_t client_id;	/* the id the client gave */
	/* The client, as the audit log tells it even after it has gone. */
	uid_t uid;
	pid_t pid;
	char exe[256];
	const struct scope *scope;
	struct ca_msg m;	/* the client's request */
	next_fn next;		/* what to do once logged in */
	unsigned pending;	/* LOCK: host calls outstanding */
	uint32_t status;	/* LOCK: first failure */
	struct request *wnext;	/* queue of a login wait */
};

/*
 * One login at a time per token: requests that find the token logged out
 * while a login is under way wait for its outcome instead of asking for
 * the PIN again, and a wrong PIN fails them all rather than being retried.
 */
struct login_wait {
	char *token_id;
	struct ca_secret *pin;	/* sent, kept until the answer */
	struct request *head, **tail;
	struct login_wait *next;
};

static struct login_wait *logins;

/* Frees r and hands back its client (NULL if gone) and request id, so
 * that the reply goes out only once the client may send its next request. */
static struct client *
detach(struct request *r, uint32_t *id)
{
	struct client *c = r->c;

	*id = r->client_id;
	if (c != NULL)
		c->req = NULL;
	ca_msg_clear(&r->m);
	free(r);
	return c;
}

static const char *op_verb(uint8_t type);

/*
 * What a prompt's outcome says to the client: the user's cancel reads as
 * user_text; a prompt withdrawn or failed says why (err).
 */
static const char *
cancel_text(uint32_t status, const char *err, const char *user_text)
{
	if (status == CA_E_CANCELLED && (err == NULL || err[0] == '\0'))
		return user_text;
	return err != NULL && err[0] != '\0' ? err :
	    "no PIN or confirmation could be asked";
}

/* One audit line for each key operation, login and lock. */
static void
audit(const struct request *r, uint32_t status)
{
	struct audit_rec a;
	const struct ca_token *t = NULL;
	const struct ca_key *k = NULL;
	struct host *h;

	/* Every request ends here: no key lookups when nobody logs them. */
	if (!audit_on())
		return;
	memset(&a, 0, sizeof(a));
	switch (r->m.type) {
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		a.op = r->m.type == CA_MSG_SIGN ? "sign" :
		    r->m.type == CA_MSG_DECRYPT ? "decrypt" : "derive";
		a.key_id = r->m.u.op.key_id;
		if ((k = hosts_find_key(a.key_id, &h)) != NULL &&
		    scope_key_allowed(r->scope, k)) {
			a.label = k->label;
			t = hosts_find_token(k->token_id, &h);
		}
		a.data_name = r->m.type == CA_MSG_SIGN ? "digest" : "data";
		a.data = r->m.u.op.data;
		a.len = r->m.u.op.len;
		break;
	case CA_MSG_LOGIN:
	case CA_MSG_LOCK:
		a.op = r->m.type == CA_MSG_LOGIN ? "login" : "lock";
		if (r->m.u.login.token_id != NULL)
			t = hosts_find_token(r->m.u.login.token_id, &h);
		break;
	default:
		return;
	}
	a.uid = r->uid;
	a.pid = r->pid;
	a.exe = r->exe;
	a.socket = r->scope != NULL ? r->scope->path : "main";
	a.token = t != NULL ? t->label : NULL;
	a.status = status;
	audit_log(&a);
}

static void
finish(struct request *r, struct ca_msg *reply)
{
	uint32_t id;
	struct client *c;

	audit(r, reply->type == CA_MSG_ERROR ? reply->u.error.code : CA_OK);
	c = detach(r, &id);

	if (c != NULL)
		client_reply(c, id, reply);
}

static void
fail(struct request *r, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct request *r, uint32_t status, const char *fmt, ...)
{
	char text[512];
	uint32_t id;
	struct client *c;
	va_list ap;

	/* Formatted first: the arguments may point into r. */
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	audit(r, status);
	if ((c = detach(r, &id)) != NULL)
		client_error(c, id, status, "%s", text);
}

uint32_t
request_id(const struct request *r)
{
	return r->client_id;
}

void
request_orphan(struct request *r)
{
	r->c = NULL;
}

static int
needs_login(const struct ca_token *t)
{
	return (t->flags & CA_TOK_LOGIN_REQUIRED) &&
	    !(t->flags & CA_TOK_LOGGED_IN);
}

static void
tries_text(const struct ca_token *t, char *buf, size_t len)
{
	if (t->flags & CA_TOK_PIN_FINAL_TRY)
		snprintf(buf, len, "\n\nThis is the FINAL try: a wrong PIN "
		    "will lock the card.");
	else if (t->flags & CA_TOK_PIN_COUNT_LOW)
		snprintf(buf, len, "\n\nA wrong PIN was entered before; "
		    "few tries remain.");
	else
		buf[0] = '\0';
}

/*
 * Usable for an operation: present, its host up, PIN not locked. Returns
 * CA_OK or the status to fail with, and a reason.
 */
static uint32_t
token_usable(const struct ca_token *t, const char **why)
{
	if (t->flags & CA_TOK_HOST_DOWN) {
		*why = "its module is being restarted";
		return CA_E_TOKEN_FAILED;
	}
	if (!(t->flags & CA_TOK_PRESENT)) {
		*why = "it is not present";
		return CA_E_TOKEN_ABSENT;
	}
	if (t->flags & CA_TOK_PIN_LOCKED) {
		*why = "its PIN is locked; unblock it with the PUK";
		return CA_E_PIN_LOCKED;
	}
	return CA_OK;
}

/* ---- login ---- */

static struct login_wait *
login_find(const char *token_id)
{
	struct login_wait *w;

	for (w = logins; w != NULL; w = w->next)
		if (strcmp(w->token_id, token_id) == 0)
			return w;
	return NULL;
}

/* Ends a login wait: every waiter goes on (status CA_OK) or fails alike. */
static void
login_done(struct login_wait *w, uint32_t status, const char *text)
{
	struct login_wait **pp;
	struct request *r, *rn;

	for (pp = &logins; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	if (status == CA_OK)
		policy_pin_worked(w->token_id, w->pin);
	else if (status == CA_E_PIN_INCORRECT || status == CA_E_PIN_LOCKED)
		policy_forget(w->token_id);
	ca_secret_free(w->pin);
	for (r = w->head; r != NULL; r = rn) {
		rn = r->wnext;
		r->wnext = NULL;
		/* A client that left gets no operation done on its behalf. */
		if (status == CA_OK && r->c != NULL)
			r->next(r);
		else
			fail(r, status != CA_OK ? status : CA_E_CANCELLED,
			    "%s", text != NULL ? text : "client gone");
	}
	free(w->token_id);
	free(w);
}

static void
login_reply(void *arg, struct ca_msg *reply)
{
	struct login_wait *w = arg;

	if (reply->type == CA_MSG_OK)
		login_done(w, CA_OK, NULL);
	else if (reply->type == CA_MSG_ERROR)
		login_done(w, reply->u.error.code, reply->u.error.text ?
		    reply->u.error.text : ca_status_str(reply->u.error.code));
	else
		login_done(w, CA_E_INTERNAL, "unexpected reply to login");
}

static void
login_send(struct login_wait *w, struct ca_secret *pin)
{
	struct host *h;
	struct ca_msg m;

	if (hosts_find_token(w->token_id, &h) == NULL) {
		ca_secret_free(pin);
		login_done(w, CA_E_TOKEN_ABSENT, "the token has gone");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_LOGIN;
	m.u.login.token_id = w->token_id;
	m.u.login.pin = pin;
	w->pin = pin;
	host_call(h, &m, login_reply, w);
}

static void
login_pin(void *arg, uint32_t status, struct ca_secret *pin, const char *err)
{
	struct login_wait *w = arg;

	if (status != CA_OK) {
		login_done(w, status, cancel_text(status, err,
		    "PIN entry cancelled"));
		return;
	}
	login_send(w, pin);
}

/* ", to sign with the key K" when an operation needs the login. */
static void
login_purpose(const struct request *r, char *buf, size_t len)
{
	const struct ca_key *k;
	struct host *h;

	buf[0] = '\0';
	if ((r->m.type == CA_MSG_SIGN || r->m.type == CA_MSG_DECRYPT ||
	    r->m.type == CA_MSG_DERIVE) &&
	    (k = hosts_find_key(r->m.u.op.key_id, &h)) != NULL)
		snprintf(buf, len, ", to %s with the key \"%s\"",
		    op_verb(r->m.type), k->label);
}

/*
 * Logs r's token in, then calls r->next, or fails r. pin, when given (the
 * client sent one), is consumed. Takes the token by id since the cached
 * index may change under the loop.
 */
static void
login_then(struct request *r, const struct ca_token *t,
    struct ca_secret *pin, next_fn next)
{
	struct login_wait *w;
	char desc[1024], tries[128], purpose[256];
	const char *why;
	uint32_t st;

	r->next = next;
	if ((st = token_usable(t, &why)) != CA_OK) {
		ca_secret_free(pin);
		fail(r, st, "token '%s': %s", t->label, why);
		return;
	}
	if ((w = login_find(t->id)) != NULL) {
		ca_secret_free(pin);
		*w->tail = r;
		w->tail = &r->wnext;
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->token_id = strdup(t->id)) == NULL) {
		free(w);
		ca_secret_free(pin);
		fail(r, CA_E_INTERNAL, "out of memory");
		return;
	}
	w->head = r;
	w->tail = &r->wnext;
	w->next = logins;
	logins = w;
	if (pin != NULL || (t->flags & CA_TOK_PROTECTED_PATH)) {
		login_send(w, pin);
		return;
	}
	tries_text(t, tries, sizeof(tries));
	login_purpose(r, purpose, sizeof(purpose));
	snprintf(desc, sizeof(desc), "Please enter the PIN for the token "
	    "\"%s\"\n(%s %s, serial %s) to unlock its keys%s.%s", t->label,
	    t->manufacturer, t->model, t->serial, purpose, tries);
	prompt_ask("cardagent", desc, t->id, login_pin, w);
}

/* ---- operations ---- */

static const char *
op_verb(uint8_t type)
{
	switch (type) {
	case CA_MSG_SIGN:
		return "sign";
	case CA_MSG_DECRYPT:
		return "decrypt";
	default:
		return "derive a key";
	}
}

static void
op_reply(void *arg, struct ca_msg *reply)
{
	struct request *r = arg;
	const struct ca_key *k;
	struct host *h;

	/* The host runs vendor code: only the answer the request calls for
	 * goes on to the client. */
	if (reply->type != CA_MSG_ERROR && reply->type !=
	    (r->m.type == CA_MSG_SIGN ? CA_MSG_SIGNATURE : CA_MSG_SECRET)) {
		fail(r, CA_E_TOKEN_FAILED, "the token host answered with "
		    "message type 0x%02x", reply->type);
		return;
	}

	if ((k = hosts_find_key(r->m.u.op.key_id, &h)) != NULL) {
		if (reply->type == CA_MSG_ERROR &&
		    (reply->u.error.code == CA_E_PIN_INCORRECT ||
		    reply->u.error.code == CA_E_PIN_LOCKED))
			policy_forget(k->token_id);
		else if (reply->type != CA_MSG_ERROR && k->always_auth)
			policy_pin_worked(k->token_id, r->m.u.op.pin);
		policy_used(k->token_id);
	}
	finish(r, reply);
}

static void
op_send(struct request *r)
{
	struct host *h;

	if (hosts_find_key(r->m.u.op.key_id, &h) == NULL) {
		fail(r, CA_E_NO_KEY, "the key has gone");
		return;
	}
	host_call(h, &r->m, op_reply, r);
}

static void
op_pin(void *arg, uint32_t status, struct ca_secret *pin, const char *err)
{
	struct request *r = arg;

	if (status != CA_OK) {
		fail(r, status, "%s", cancel_text(status, err,
		    "PIN entry cancelled"));
		return;
	}
	r->m.u.op.pin = pin;
	if (r->c == NULL) {
		fail(r, CA_E_CANCELLED, "client gone");
		return;
	}
	op_send(r);
}

/* Logged in; an always-authenticate key still wants its PIN for this use. */
static void
op_ready(struct request *r)
{
	const struct ca_token *t;
	const struct ca_key *k;
	struct host *h;
	char desc[1024], tries[128];

	if ((k = hosts_find_key(r->m.u.op.key_id, &h)) == NULL ||
	    (t = hosts_find_token(k->token_id, &h)) == NULL) {
		fail(r, CA_E_NO_KEY, "the key has gone");
		return;
	}
	if (!k->always_auth || r->m.u.op.pin != NULL) {
		op_send(r);
		return;
	}
	if (t->flags & CA_TOK_PROTECTED_PATH) {
		op_send(r);
		return;
	}
	/* pin-cache ttl: the PIN typed a moment ago, if the card allows. */
	if ((r->m.u.op.pin = policy_pin(t)) != NULL) {
		op_send(r);
		return;
	}
	tries_text(t, tries, sizeof(tries));
	snprintf(desc, sizeof(desc), "Please enter the PIN to %s with the key "
	    "\"%s\" on the token \"%s\".\nThis key asks for the PIN every time "
	    "it is used.%s", op_verb(r->m.type), k->label, t->label, tries);
	prompt_ask("cardagent", desc, k->id, op_pin, r);
}

/* The client's program name, from /proc (for the user to judge). */
static void
client_name(const struct request *r, char *buf, size_t len)
{
	char path[64];
	size_t n = 0;
	FILE *f;

	snprintf(buf, len, "an unknown program");
	if (r->c == NULL)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)r->c->pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) != NULL && (n = strcspn(buf, "\n")) > 0)
		buf[n] = '\0';
	else
		snprintf(buf, len, "an unknown program");
	fclose(f);
}

/* Logs in if needed, then on to op_ready. The index may have changed
 * while the user was asked, so the key and token are found again. */
static void
op_go(struct request *r)
{
	const struct ca_token *t;
	const struct ca_key *k;
	const char *why;
	struct host *h;
	uint32_t st;

	if ((k = hosts_find_key(r->m.u.op.key_id, &h)) == NULL ||
	    (t = hosts_find_token(k->token_id, &h)) == NULL) {
		fail(r, CA_E_NO_KEY, "the key has gone");
		return;
	}
	if ((st = token_usable(t, &why)) != CA_OK) {
		fail(r, st, "token '%s': %s", t->label, why);
		return;
	}
	if (needs_login(t))
		login_then(r, t, NULL, op_ready);
	else
		op_ready(r);
}

static void
op_allowed(void *arg, uint32_t status, struct ca_secret *pin,
    const char *err)
{
	struct request *r = arg;

	ca_secret_free(pin);
	if (status != CA_OK) {
		fail(r, status == CA_E_INTERNAL ? status : CA_E_CANCELLED,
		    "%s", cancel_text(status, err, "the user did not allow it"));
		return;
	}
	if (r->c == NULL) {
		fail(r, CA_E_CANCELLED, "client gone");
		return;
	}
	if (r->scope != NULL && r->scope->confirm == SCOPE_CONFIRM_CONNECTION)
		r->c->allowed = 1;
	op_go(r);
}

/* Whether the restricted socket wants the user's OK for this request. */
static int
scope_confirm(const struct request *r)
{
	if (r->scope == NULL)
		return 0;
	return r->scope->confirm == SCOPE_CONFIRM_USE ||
	    (r->scope->confirm == SCOPE_CONFIRM_CONNECTION && r->c != NULL &&
	    !r->c->allowed);
}

/* confirm: the user allows this one operation (or, with a restricted
 * socket's confirm=connection, this connection), or it does not happen. */
static void
op_confirm(struct request *r, const struct ca_key *k,
    const struct ca_token *t)
{
	char desc[1024], who[64], via[PATH_MAX + 96];

	client_name(r, who, sizeof(who));
	via[0] = '\0';
	if (r->scope != NULL)
		snprintf(via, sizeof(via), " through the restricted socket "
		    "%s%s", r->scope->path, r->scope->confirm ==
		    SCOPE_CONFIRM_CONNECTION ? " (asked once for this "
		    "connection)" : "");
	snprintf(desc, sizeof(desc), "Allow %s (process %ld)%s to %s with the "
	    "key \"%s\" on the token \"%s\"?", who, (long)r->pid, via,
	    op_verb(r->m.type), k->label, t->label);
	prompt_confirm("cardagent", desc, k->id, op_allowed, r);
}

static void
op_start(struct request *r)
{
	static const uint32_t need[] = {
		[CA_MSG_SIGN] = CA_OP_SIGN,
		[CA_MSG_DECRYPT] = CA_OP_DECRYPT,
		[CA_MSG_DERIVE] = CA_OP_DERIVE,
	};
	const struct ca_token *t;
	const struct ca_key *k;
	const char *why;
	struct host *h;
	uint32_t st;

	/* Counted before anything is looked at: a probe costs as much as a
	 * use, whatever it finds. */
	if (r->scope != NULL &&
	    scope_rate_take(r->scope, r->pid, loop_now_ms()) == -1) {
		fail(r, CA_E_BUSY, "at most %u operations a minute on this "
		    "socket; try again later", r->scope->rate);
		return;
	}
	/* A key outside the scope is answered as one that does not exist. */
	if ((k = hosts_find_key(r->m.u.op.key_id, &h)) == NULL ||
	    !scope_key_allowed(r->scope, k)) {
		fail(r, CA_E_NO_KEY, "no key with id '%s'", r->m.u.op.key_id);
		return;
	}
	if ((t = hosts_find_token(k->token_id, &h)) == NULL) {
		fail(r, CA_E_NO_KEY, "the key's token has gone");
		return;
	}
	if (!(k->ops & need[r->m.type])) {
		fail(r, CA_E_NOT_ALLOWED, "key '%s' may not %s", k->label,
		    op_verb(r->m.type));
		return;
	}
	if ((st = token_usable(t, &why)) != CA_OK) {
		fail(r, st, "token '%s': %s", t->label, why);
		return;
	}
	if (policy_confirm(r->m.type, t) || scope_confirm(r))
		op_confirm(r, k, t);
	else
		op_go(r);
}

/* ---- LOGIN, LOCK ---- */

static void
login_ok(struct request *r)
{
	struct ca_msg ok = { .type = CA_MSG_OK };

	finish(r, &ok);
}

struct pick {
	const struct ca_token *t;
	size_t n;
};

static int
pick_logged_out(void *arg, struct host *h, const struct ca_token *t)
{
	struct pick *p = arg;

	(void)h;
	if (needs_login(t) && !(t->flags & CA_TOK_HOST_DOWN)) {
		p->t = t;
		p->n++;
	}
	return 0;
}

static void
do_login(struct request *r)
{
	const struct ca_token *t;
	struct ca_secret *pin;
	struct pick p = { NULL, 0 };
	struct host *h;

	if (r->m.u.login.token_id[0] == '\0') {
		hosts_each_token(pick_logged_out, &p);
		if (p.n == 0) {
			login_ok(r);
			return;
		}
		if (p.n > 1) {
			fail(r, CA_E_NO_KEY, "%zu tokens need a PIN; name one",
			    p.n);
			return;
		}
		t = p.t;
	} else if ((t = hosts_find_token(r->m.u.login.token_id, &h)) ==
	    NULL) {
		fail(r, CA_E_NO_KEY, "no token with id '%s'",
		    r->m.u.login.token_id);
		return;
	}
	if (!needs_login(t)) {
		login_ok(r);
		return;
	}
	pin = r->m.u.login.pin;
	r->m.u.login.pin = NULL;
	login_then(r, t, pin, login_ok);
}

static void
lock_reply(void *arg, struct ca_msg *reply)
{
	struct request *r = arg;
	struct ca_msg ok = { .type = CA_MSG_OK };

	if (reply->type == CA_MSG_ERROR && r->status == CA_OK)
		r->status = reply->u.error.code;
	if (--r->pending > 0)
		return;
	if (r->status != CA_OK)
		fail(r, r->status, "logging out failed on some token");
	else
		finish(r, &ok);
}

static int
lock_one(void *arg, struct host *h, const struct ca_token *t)
{
	struct request *r = arg;
	struct ca_msg m;

	if (r->m.u.login.token_id[0] != '\0' &&
	    strcmp(r->m.u.login.token_id, t->id) != 0)
		return 0;
	policy_forget(t->id);
	if (!(t->flags & CA_TOK_LOGGED_IN) || (t->flags & CA_TOK_HOST_DOWN))
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_LOCK;
	m.u.login.token_id = t->id;
	r->pending++;
	host_call(h, &m, lock_reply, r);
	return 0;
}

static void
do_lock(struct request *r)
{
	struct ca_msg ok = { .type = CA_MSG_OK };
	struct host *h;

	if (r->m.u.login.token_id[0] != '\0' &&
	    hosts_find_token(r->m.u.login.token_id, &h) == NULL) {
		fail(r, CA_E_NO_KEY, "no token with id '%s'",
		    r->m.u.login.token_id);
		return;
	}
	/* Counted before any reply can arrive: host_call never calls back
	 * from inside itself. */
	hosts_each_token(lock_one, r);
	if (r->pending == 0)
		finish(r, &ok);
}

static void
do_list(struct request *r, int tokens)
{
	struct ca_msg reply;

	memset(&reply, 0, sizeof(reply));
	reply.type = tokens ? CA_MSG_STATUS_REPLY : CA_MSG_KEYS_REPLY;
	if (hosts_snapshot(&reply, tokens, !tokens) != CA_PE_OK) {
		ca_msg_clear(&reply);
		fail(r, CA_E_INTERNAL, "out of memory");
		return;
	}
	scope_filter_keys(r->scope, &reply);
	finish(r, &reply);
	ca_msg_clear(&reply);
}

void
request_start(struct client *c, struct ca_msg *m)
{
	struct request *r;
	const char *why;
	uint32_t st;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		client_error(c, m->id, CA_E_INTERNAL, "out of memory");
		ca_msg_clear(m);
		return;
	}
	r->c = c;
	r->client_id = m->id;
	r->uid = c->uid;
	r->pid = c->pid;
	r->scope = c->scope;
	memcpy(r->exe, c->exe, sizeof(r->exe));
	r->m = *m;
	memset(m, 0, sizeof(*m));
	c->req = r;
	if ((st = scope_check(r->scope, &r->m, &why)) != CA_OK) {
		fail(r, st, "%s", why);
		return;
	}
	switch (r->m.type) {
	case CA_MSG_STATUS:
		do_list(r, 1);
		break;
	case CA_MSG_LIST_KEYS:
		do_list(r, 0);
		break;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		op_start(r);
		break;
	case CA_MSG_LOGIN:
		do_login(r);
		break;
	case CA_MSG_LOCK:
		do_lock(r);
		break;
	default:
		fail(r, CA_E_PROTOCOL, "unexpected message type 0x%02x",
		    r->m.type);
		break;
	}
}
