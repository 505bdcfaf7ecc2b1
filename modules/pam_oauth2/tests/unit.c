/* Unit tests of pam_oauth2's layers, without PAM. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include "../oa2.h"

static char *b64(const unsigned char *in, size_t len)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *o = malloc(len * 4 / 3 + 4);
	size_t k = 0;
	unsigned int acc = 0;
	int bits = 0;

	assert_non_null(o);
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			o[k++] = al[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		o[k++] = al[(acc << (6 - bits)) & 63];
	o[k] = '\0';
	return o;
}

static char *b64s(const char *s)
{
	return b64((const unsigned char *)s, strlen(s));
}

static struct oa2_config base_cfg(void)
{
	struct oa2_config c;
	const char *argv[] = { "issuer=https://idp.example", "aud=pam" };
	char err[OA2_ERRLEN];

	assert_int_equal(oa2_config_parse(&c, 2, argv, err, sizeof(err)), 0);
	return c;
}

/* ---- base64url ---- */
static void test_b64url(void **st)
{
	unsigned char *o;
	size_t n;
	(void)st;
	assert_int_equal(oa2_b64url_decode("aGk", 3, &o, &n), OA2_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(o, "hi", 2);
	free(o);
	assert_int_equal(oa2_b64url_decode("", 0, &o, &n), OA2_OK);
	free(o);
	const char *bad[] = { "aGk=", "aGk==", "==AA", "a+8", "a/8", "aG k",
			      "aGk\n", "aGl", "A", "aGkAA" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(oa2_b64url_decode(bad[i], strlen(bad[i]), &o, &n),
				     OA2_OK);
		assert_null(o);
	}
}

/* ---- config ---- */
static int parse(int argc, const char **argv, struct oa2_config *c)
{
	char err[OA2_ERRLEN];
	return oa2_config_parse(c, argc, argv, err, sizeof(err));
}

static void test_config(void **st)
{
	struct oa2_config c;
	(void)st;
	const char *ok[] = { "issuer=https://idp.example/realm/", "audience=a",
			     "aud=b", "use_first_pass", "try_first_pass", "debug",
			     "algorithm=ES384", "leeway=0", "cache_ttl=0" };
	assert_int_equal(parse(9, ok, &c), 0);
	assert_int_equal(c.n_aud, 2);
	assert_int_equal(c.alg, OA2_ES384);
	assert_int_equal(c.leeway, 0);
	assert_int_equal(c.cache_ttl, 0);
	assert_true(c.debug && c.use_first_pass && c.try_first_pass);
	c = base_cfg();
	assert_int_equal(c.alg, OA2_RS256);
	assert_string_equal(c.login_field, "sub");
	assert_int_equal(c.cache_ttl, 3600);
	assert_int_equal(c.leeway, 60);
	assert_int_equal(c.min_refresh_interval, 60);

	const char *bad[][3] = {
		{ "issuer=http://idp.example", "aud=a", NULL },
		{ "issuer=https://idp.example?x=1", "aud=a", NULL },
		{ "issuer=https://idp.example#f", "aud=a", NULL },
		{ "issuer=https://u@idp.example", "aud=a", NULL },
		{ "issuer=https://", "aud=a", NULL },
		{ "issuer=https://idp.example", NULL, NULL },
		{ "aud=a", NULL, NULL },
		{ "issuer=https://idp.example", "aud=a", "algorithm=HS256" },
		{ "issuer=https://idp.example", "aud=a", "algorithm=none" },
		{ "issuer=https://idp.example", "aud=a", "alg=rs256" },
		{ "issuer=https://idp.example", "aud=a", "alg=RS256 " },
		{ "issuer=https://idp.example", "aud=a", "leeway=301" },
		{ "issuer=https://idp.example", "aud=a", "leeway=-1" },
		{ "issuer=https://idp.example", "aud=a", "cache_ttl=1x" },
		{ "issuer=https://idp.example", "aud=a", "bogus=1" },
		{ "issuer=https://idp.example", "aud=a", "cache_dir=rel" },
		{ "issuer=https://idp.example", "aud=", NULL },
		{ "issuer=https://idp.example", "aud=a", "timeout=0" },
		{ "issuer=https://idp.example", "aud=a", "timeout=121" },
		{ "issuer=https://idp.example", "aud=a", "cache_ttl=604801" },
		{ "issuer=https://idp.example", "aud=a", "min_refresh_interval=86401" },
		{ "issuer=https://idp.example", "aud=a", "max_token_len=63" },
		{ "issuer=https://idp.example", "aud=a", "max_token_len=+100" },
		{ "issuer=https://idp.example", "aud=a", "ca_file=ca.pem" },
		{ "issuer=https://idp.example", "aud=a", "leeway" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = bad[i][1] == NULL ? 1 : bad[i][2] == NULL ? 2 : 3;
		assert_int_not_equal(parse(n, bad[i], &c), 0);
	}
	/* every numeric and path option lands in its own field */
	const char *all[] = { "issuer=https://idp.example", "aud=a",
			      "cache_ttl=604800", "leeway=300", "timeout=120",
			      "min_refresh_interval=0", "max_token_len=64",
			      "cache_dir=/c", "ca_file=/ca.pem", "proxy=" };
	assert_int_equal(parse(10, all, &c), 0);
	assert_int_equal(c.cache_ttl, 604800);
	assert_int_equal(c.leeway, 300);
	assert_int_equal(c.timeout, 120);
	assert_int_equal(c.min_refresh_interval, 0);
	assert_int_equal(c.max_token_len, 64);
	assert_string_equal(c.cache_dir, "/c");
	assert_string_equal(c.ca_file, "/ca.pem");
	assert_string_equal(c.proxy, "");
	{
		char err[OA2_ERRLEN];
		const char *t[] = { "issuer=https://idp.example", "aud=a",
				    "timeout=0" };

		assert_int_not_equal(oa2_config_parse(&c, 3, t, err, sizeof(err)), 0);
		assert_string_equal(err, "timeout must be 1..120");
	}
}

/* ---- JSON / JWS ---- */
static void test_json(void **st)
{
	(void)st;
	const char *dup = "{\"alg\":\"none\",\"alg\":\"RS256\"}";
	assert_null(oa2_json_object(dup, strlen(dup)));
	assert_null(oa2_json_object("[]", 2));
	assert_null(oa2_json_object("\"x\"", 3));
	assert_null(oa2_json_object("{\"a\":\"\\u0000\"}", 14));
	assert_null(oa2_json_object("{\"a\":99999999999999999999}", 26));
	json_t *j = oa2_json_object("{\"a\":1}", 7);
	assert_non_null(j);
	json_decref(j);
}

static char *mk_token(const char *hdr, const char *pl, const char *sig)
{
	char *h = b64s(hdr), *p = b64s(pl), *t = malloc(strlen(h) + strlen(p) +
							  strlen(sig) + 3);
	assert_non_null(t);
	sprintf(t, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return t;
}

static int jws_rc(const char *tok)
{
	struct oa2_config c = base_cfg();
	struct oa2_jws j;
	const char *r;
	int rc = oa2_jws_parse(tok, strlen(tok), &c, &j, &r);
	if (rc == OA2_OK)
		oa2_jws_free(&j);
	return rc;
}

static void test_jws(void **st)
{
	(void)st;
	struct { const char *h; int ok; } cases[] = {
		{ "{\"alg\":\"RS256\",\"kid\":\"k\"}", 1 },
		{ "{\"alg\":\"RS256\"}", 1 },
		{ "{\"alg\":\"none\"}", 0 }, { "{\"alg\":\"None\"}", 0 },
		{ "{\"alg\":\"HS256\"}", 0 }, { "{\"alg\":\"RS512\"}", 0 },
		{ "{\"alg\":\"PS256\"}", 0 }, { "{\"alg\":\"RS256 \"}", 0 },
		{ "{\"alg\":\"rs256\"}", 0 }, { "{\"alg\":1}", 0 },
		{ "{\"alg\":[\"RS256\"]}", 0 }, { "{\"alg\":null}", 0 },
		{ "{}", 0 },
		{ "{\"alg\":\"RS256\",\"crit\":[]}", 0 },
		{ "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", 0 },
		{ "{\"alg\":\"RS256\",\"zip\":\"DEF\"}", 0 },
		{ "{\"alg\":\"RS256\",\"b64\":false}", 0 },
		{ "{\"alg\":\"none\",\"alg\":\"RS256\"}", 0 },
		{ "{\"alg\":\"RS256\",\"kid\":1}", 0 },
		{ "[]", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = mk_token(cases[i].h, "{\"sub\":\"a\"}", "c2ln");
		assert_int_equal(jws_rc(t) == OA2_OK, cases[i].ok);
		free(t);
	}
	const char *bad[] = { "a.b", "a.b.c.d", "a.b.c.d.e", "..", "",
			      "{\"payload\":\"x\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(jws_rc(bad[i]), OA2_OK);
	char *t = mk_token("{\"alg\":\"RS256\"}", "{\"sub\":\"a\"}", "");
	assert_int_not_equal(jws_rc(t), OA2_OK); /* empty signature */
	free(t);
	t = mk_token("{\"alg\":\"RS256\"}", "[1]", "c2ln");
	assert_int_not_equal(jws_rc(t), OA2_OK);
	free(t);
}

/* ---- claims ---- */
static int claims(const char *pl, const char *user, time_t now)
{
	struct oa2_config c = base_cfg();
	json_t *p = oa2_json_object(pl, strlen(pl));
	const char *r;
	int rc;
	if (p == NULL)
		return -1;
	rc = oa2_claims_check(p, &c, user, now, &r, NULL);
	json_decref(p);
	return rc;
}

#define PL(extra) "{\"iss\":\"https://idp.example\",\"aud\":\"pam\"," extra "}"
static void test_claims(void **st)
{
	(void)st;
	time_t now = 1700000000;
	assert_int_equal(claims(PL("\"exp\":1700000100,\"sub\":\"alice\""), "alice", now), OA2_OK);
	assert_int_not_equal(claims(PL("\"exp\":1700000100,\"sub\":\"alice\""), "bob", now), OA2_OK);
	/* exp boundaries with leeway 60 */
	assert_int_not_equal(claims(PL("\"exp\":1699999940,\"sub\":\"a\""), "a", now), OA2_OK);
	assert_int_equal(claims(PL("\"exp\":1699999941,\"sub\":\"a\""), "a", now), OA2_OK);
	const char *bad_exp[] = { "", "\"exp\":\"1800000000\",", "\"exp\":1e300,",
				  "\"exp\":-1,", "\"exp\":1.5,", "\"exp\":null,",
				  "\"exp\":[1800000000]," };
	for (size_t i = 0; i < sizeof(bad_exp) / sizeof(bad_exp[0]); i++) {
		char pl[256];
		snprintf(pl, sizeof(pl), PL("%s\"sub\":\"a\""), bad_exp[i]);
		assert_int_not_equal(claims(pl, "a", now), OA2_OK);
	}
	/* nbf / iat */
	assert_int_equal(claims(PL("\"exp\":1800000000,\"nbf\":1700000060,\"sub\":\"a\""), "a", now), OA2_OK);
	assert_int_not_equal(claims(PL("\"exp\":1800000000,\"nbf\":1700000061,\"sub\":\"a\""), "a", now), OA2_OK);
	assert_int_not_equal(claims(PL("\"exp\":1800000000,\"nbf\":\"1\",\"sub\":\"a\""), "a", now), OA2_OK);
	assert_int_not_equal(claims(PL("\"exp\":1800000000,\"iat\":1790000000,\"sub\":\"a\""), "a", now), OA2_OK);
	assert_int_not_equal(claims(PL("\"exp\":1800000000,\"events\":{},\"sub\":\"a\""), "a", now), OA2_OK);
	/* iss / aud */
	const char *pls[] = {
		"{\"iss\":\"https://idp.example/\",\"aud\":\"pam\",\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://IDP.example\",\"aud\":\"pam\",\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":[\"https://idp.example\"],\"aud\":\"pam\",\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"aud\":\"pam\",\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://idp.example\",\"aud\":\"pam \",\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://idp.example\",\"aud\":[],\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://idp.example\",\"aud\":[123],\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://idp.example\",\"aud\":null,\"exp\":1800000000,\"sub\":\"a\"}",
		"{\"iss\":\"https://idp.example\",\"exp\":1800000000,\"sub\":\"a\"}",
	};
	for (size_t i = 0; i < sizeof(pls) / sizeof(pls[0]); i++)
		assert_int_not_equal(claims(pls[i], "a", now), OA2_OK);
	assert_int_equal(claims("{\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"pam\"],\"exp\":1800000000,\"sub\":\"a\"}", "a", now), OA2_OK);
	/* login_field types */
	const char *subs[] = { "\"sub\":1000", "\"sub\":true", "\"sub\":[\"root\"]",
			       "\"sub\":{}", "\"sub\":\"\"", "\"sub\":\"ROOT\"",
			       "\"sub\":\" root\"", "\"sub\":\"r\\u043e\\u043et\"" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char pl[256];
		snprintf(pl, sizeof(pl), PL("\"exp\":1800000000,%s"), subs[i]);
		assert_int_not_equal(claims(pl, i == 0 ? "1000" : "root", now), OA2_OK);
	}
}

/* ---- JWK import + signatures ---- */
static json_t *rsa_jwk(EVP_PKEY *k)
{
	BIGNUM *n = NULL, *e = NULL;
	unsigned char nb[1024], eb[16];
	assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n));
	assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e));
	int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
	char *ns = b64(nb, (size_t)nl), *es = b64(eb, (size_t)el);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "r1",
			      "n", ns, "e", es);
	free(ns);
	free(es);
	BN_free(n);
	BN_free(e);
	return j;
}

static json_t *ec_jwk(EVP_PKEY *k, const char *crv, size_t cl)
{
	unsigned char pub[200];
	size_t pl = 0;
	assert_true(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY,
						    pub, sizeof(pub), &pl));
	assert_int_equal(pl, 1 + 2 * cl);
	char *x = b64(pub + 1, cl), *y = b64(pub + 1 + cl, cl);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "kid", "e1",
			      "crv", crv, "x", x, "y", y);
	free(x);
	free(y);
	return j;
}

static size_t sign(EVP_PKEY *k, const char *md, int pss, int salt,
		   const char *msg, unsigned char *sig, size_t cap)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t len = cap;
	assert_true(EVP_DigestSignInit_ex(c, &pc, md, NULL, NULL, k, NULL) > 0);
	if (pss) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) > 0);
	}
	assert_true(EVP_DigestSign(c, sig, &len, (const unsigned char *)msg,
				   strlen(msg)) > 0);
	EVP_MD_CTX_free(c);
	return len;
}

static void test_rsa(void **st)
{
	(void)st;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *pub = NULL, *small = NULL;
	unsigned char sig[512];
	const char *r, *msg = "header.payload";
	assert_non_null(k);
	json_t *jwk = rsa_jwk(k);
	assert_int_equal(oa2_jwk_import(jwk, OA2_RS256, &pub, &r), OA2_OK);
	size_t sl = sign(k, "SHA256", 0, 0, msg, sig, sizeof(sig));
	assert_int_equal(oa2_verify(pub, OA2_RS256, (const unsigned char *)msg,
				    strlen(msg), sig, sl), OA2_OK);
	assert_int_not_equal(oa2_verify(pub, OA2_RS512, (const unsigned char *)msg,
					strlen(msg), sig, sl), OA2_OK);
	assert_int_not_equal(oa2_verify(pub, OA2_RS256, (const unsigned char *)msg,
					strlen(msg), sig, sl - 1), OA2_OK);
	sig[10] ^= 1;
	assert_int_not_equal(oa2_verify(pub, OA2_RS256, (const unsigned char *)msg,
					strlen(msg), sig, sl), OA2_OK);
	/* PSS: salt = digest length only */
	sl = sign(k, "SHA256", 1, RSA_PSS_SALTLEN_DIGEST, msg, sig, sizeof(sig));
	assert_int_equal(oa2_verify(pub, OA2_PS256, (const unsigned char *)msg,
				    strlen(msg), sig, sl), OA2_OK);
	sl = sign(k, "SHA256", 1, 0, msg, sig, sizeof(sig));
	assert_int_not_equal(oa2_verify(pub, OA2_PS256, (const unsigned char *)msg,
					strlen(msg), sig, sl), OA2_OK);
	sl = sign(k, "SHA256", 1, RSA_PSS_SALTLEN_MAX, msg, sig, sizeof(sig));
	assert_int_not_equal(oa2_verify(pub, OA2_PS256, (const unsigned char *)msg,
					strlen(msg), sig, sl), OA2_OK);
	/* RS key refused for ES, private members refused, bad exponent */
	EVP_PKEY *x = NULL;
	assert_int_not_equal(oa2_jwk_import(jwk, OA2_ES256, &x, &r), OA2_OK);
	json_object_set_new(jwk, "e", json_string("AQ")); /* e = 1 */
	assert_int_not_equal(oa2_jwk_import(jwk, OA2_RS256, &x, &r), OA2_OK);
	json_object_set_new(jwk, "e", json_string("AQAA")); /* even */
	assert_int_not_equal(oa2_jwk_import(jwk, OA2_RS256, &x, &r), OA2_OK);
	json_decref(jwk);
	/* 1024-bit key below the floor */
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	jwk = rsa_jwk(small);
	assert_int_not_equal(oa2_jwk_import(jwk, OA2_RS256, &x, &r), OA2_OK);
	assert_null(x);
	json_decref(jwk);
	EVP_PKEY_free(small);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
}

static size_t ec_raw(EVP_PKEY *k, const char *md, const char *msg,
		     unsigned char *raw, size_t cl)
{
	unsigned char der[200];
	size_t dl = sign(k, md, 0, 0, msg, der, sizeof(der));
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	assert_non_null(s);
	BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, (int)cl);
	BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + cl, (int)cl);
	ECDSA_SIG_free(s);
	return 2 * cl;
}

static void test_ec(void **st)
{
	(void)st;
	struct { enum oa2_alg alg; const char *curve, *crv, *md; size_t cl; } c[] = {
		{ OA2_ES256, "P-256", "P-256", "SHA256", 32 },
		{ OA2_ES384, "P-384", "P-384", "SHA384", 48 },
		{ OA2_ES512, "P-521", "P-521", "SHA512", 66 },
	};
	const char *msg = "h.p", *r;
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c[i].curve);
		EVP_PKEY *pub = NULL, *x = NULL;
		unsigned char raw[200], pad[200];
		assert_non_null(k);
		json_t *jwk = ec_jwk(k, c[i].crv, c[i].cl);
		assert_int_equal(oa2_jwk_import(jwk, c[i].alg, &pub, &r), OA2_OK);
		size_t rl = ec_raw(k, c[i].md, msg, raw, c[i].cl);
		assert_int_equal(oa2_verify(pub, c[i].alg, (const unsigned char *)msg,
					    strlen(msg), raw, rl), OA2_OK);
		/* padded, short, zero r */
		memset(pad, 0, sizeof(pad));
		memcpy(pad + 1, raw, rl);
		assert_int_not_equal(oa2_verify(pub, c[i].alg, (const unsigned char *)msg,
						strlen(msg), pad, rl + 1), OA2_OK);
		assert_int_not_equal(oa2_verify(pub, c[i].alg, (const unsigned char *)msg,
						strlen(msg), raw, rl - 1), OA2_OK);
		memset(raw, 0, c[i].cl);
		assert_int_not_equal(oa2_verify(pub, c[i].alg, (const unsigned char *)msg,
						strlen(msg), raw, rl), OA2_OK);
		/* curve binding: this key is refused for the other ES algs */
		for (size_t o = 0; o < 3; o++) {
			if (o == i)
				continue;
			assert_int_not_equal(oa2_jwk_import(jwk, c[o].alg, &x, &r), OA2_OK);
		}
		/* a point off the curve */
		json_object_set_new(jwk, "y", json_string(json_string_value(json_object_get(jwk, "x"))));
		assert_int_not_equal(oa2_jwk_import(jwk, c[i].alg, &x, &r), OA2_OK);
		json_decref(jwk);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
}

static void test_select(void **st)
{
	(void)st;
	const char *doc =
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"b\",\"use\":\"enc\",\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"c\",\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"c\",\"alg\":\"RS256\",\"n\":\"y\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"d\",\"key_ops\":[\"encrypt\"],\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"f\",\"alg\":\"RS512\",\"n\":\"x\",\"e\":\"AQAB\"},"
		"{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"x\",\"y\":\"y\"}]}";
	json_t *j = oa2_json_object(doc, strlen(doc)), *k;
	assert_non_null(j);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "a", 1, &k), OA2_OK);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "b", 1, &k), OA2_OK);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "c", 1, &k), OA2_EAMBIG);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "d", 1, &k), OA2_ENOKEY);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "f", 1, &k), OA2_ENOKEY);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "zz", 2, &k), OA2_ENOKEY);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, "../../etc/passwd", 16, &k), OA2_ENOKEY);
	assert_int_equal(oa2_jwks_select(j, OA2_RS256, NULL, 0, &k), OA2_EAMBIG);
	assert_int_equal(oa2_jwks_select(j, OA2_ES256, NULL, 0, &k), OA2_OK);
	assert_int_equal(oa2_jwks_select(j, OA2_ES384, "a", 1, &k), OA2_ENOKEY);
	json_decref(j);
	const char *bad[] = { "{\"keys\":[]}", "{\"keys\":{}}", "{}",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"x\",\"e\":\"AQAB\",\"d\":\"x\"}]}",
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", "{\"keys\":[1]}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = oa2_json_object(bad[i], strlen(bad[i]));
		assert_non_null(j);
		assert_int_not_equal(oa2_jwks_select(j, OA2_RS256, NULL, 0, &k), OA2_OK);
		json_decref(j);
	}
}

/* ---- cache ---- */
static void test_cache(void **st)
{
	(void)st;
	char dir[] = "/tmp/oa2-unit-XXXXXX", path[4096], cmd[4200];
	struct oa2_config c = base_cfg();
	struct oa2_entry e = { 0 }, l;
	assert_non_null(mkdtemp(dir));
	c.cache_dir = dir;
	const char *doc = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"x\",\"e\":\"AQAB\"}]}";
	e.jwks = oa2_json_object(doc, strlen(doc));
	e.jwks_uri = strdup("https://idp.example/jwks");
	e.fetched_at = 1234;
	assert_int_equal(oa2_cache_load(&c, &l), OA2_ECACHE);
	assert_int_equal(oa2_cache_store(&c, &e), OA2_OK);
	assert_int_equal(oa2_cache_load(&c, &l), OA2_OK);
	assert_int_equal(l.fetched_at, 1234);
	assert_string_equal(l.jwks_uri, "https://idp.example/jwks");
	oa2_entry_clear(&l);
	assert_int_equal(oa2_cache_path(&c, path, sizeof(path)), OA2_OK);
	/* another issuer never reads this file */
	struct oa2_config c2 = c;
	c2.issuer = "https://other.example";
	assert_int_equal(oa2_cache_load(&c2, &l), OA2_ECACHE);
	/* world-writable file refused */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(oa2_cache_load(&c, &l), OA2_ECACHE);
	assert_int_equal(chmod(path, 0600), 0);
	/* a file holding another issuer's entry is refused */
	c2.cache_dir = dir;
	char p2[4096];
	assert_int_equal(oa2_cache_path(&c2, p2, sizeof(p2)), OA2_OK);
	assert_int_equal(rename(path, p2), 0);
	assert_int_equal(oa2_cache_load(&c2, &l), OA2_ECACHE);
	/* symlink refused */
	assert_int_equal(symlink(p2, path), 0);
	assert_int_equal(oa2_cache_load(&c, &l), OA2_ECACHE);
	unlink(path);
	/* truncated file refused */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"issuer\":\"https://idp.example\",\"jwks", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(oa2_cache_load(&c, &l), OA2_ECACHE);
	/* group-writable directory refused */
	assert_int_equal(oa2_cache_store(&c, &e), OA2_OK);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(oa2_cache_load(&c, &l), OA2_ECACHE);
	oa2_entry_clear(&e);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* keycache: hits only for identical file identity, bytes, issuer, alg, kid */
static int kc_get(const struct oa2_ident *id, const char *doc,
		  const char *iss, enum oa2_alg alg, const char *kid,
		  EVP_PKEY *want)
{
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = NULL;
	long long fat = 0;
	int rc = oa2_keycache_get(id, doc, strlen(doc), iss, alg, kid,
				  kid ? strlen(kid) : 0, &k, &md, &fat);

	if (rc == OA2_OK) {
		assert_ptr_equal(k, want);
		assert_non_null(md);
		assert_int_equal(fat, 42);
	} else {
		assert_null(k);
		assert_null(md);
	}
	EVP_PKEY_free(k);
	EVP_MD_CTX_free(md);
	return rc;
}

static void test_keycache(void **st)
{
	(void)st;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct oa2_ident id = { 1, 2, 3, 4, 5 }, id2 = id;
	const char *doc = "{\"jwks\":1}", *iss = "https://idp.example";
	const char *msg = "header.payload";
	unsigned char sig[512];
	char name[16];

	assert_non_null(k);
	oa2_keycache_flush();
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, "a", k), OA2_ENOKEY);
	oa2_keycache_put(&id, doc, strlen(doc), iss, OA2_PS256, "a", 1, k, 42);
	assert_int_equal(oa2_keycache_count(), 1);
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, "a", k), OA2_OK);
	/* the copied verify context carries the PSS parameters */
	{
		EVP_PKEY *g = NULL;
		EVP_MD_CTX *md = NULL;
		long long fat;
		size_t sl = sign(k, "SHA256", 1, RSA_PSS_SALTLEN_DIGEST, msg,
				 sig, sizeof(sig));

		for (int salt0 = 0; salt0 < 2; salt0++) {
			if (salt0)
				sl = sign(k, "SHA256", 1, 0, msg, sig, sizeof(sig));
			assert_int_equal(oa2_keycache_get(&id, doc, strlen(doc),
							  iss, OA2_PS256, "a",
							  1, &g, &md, &fat),
					 OA2_OK);
			assert_int_equal(oa2_verify_with(md, g, OA2_PS256,
							 (const unsigned char *)msg,
							 strlen(msg), sig, sl),
					 salt0 ? OA2_EINVAL : OA2_OK);
			EVP_PKEY_free(g);
			EVP_MD_CTX_free(md);
		}
	}
	/* any difference misses: content, identity, issuer, alg, kid */
	assert_int_equal(kc_get(&id, "{\"jwks\":2}", iss, OA2_PS256, "a", k),
			 OA2_ENOKEY);
	id2.ino = 99;
	assert_int_equal(kc_get(&id2, doc, iss, OA2_PS256, "a", k), OA2_ENOKEY);
	id2 = id;
	id2.mtime_nsec = 6;
	assert_int_equal(kc_get(&id2, doc, iss, OA2_PS256, "a", k), OA2_ENOKEY);
	assert_int_equal(kc_get(&id, doc, "https://idp.example/", OA2_PS256,
				"a", k), OA2_ENOKEY);
	assert_int_equal(kc_get(&id, doc, iss, OA2_RS256, "a", k), OA2_ENOKEY);
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, "b", k), OA2_ENOKEY);
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, NULL, k), OA2_ENOKEY);
	/* bounded: LRU eviction keeps at most OA2_KEYCACHE_SLOTS keys */
	for (int i = 0; i < 2 * OA2_KEYCACHE_SLOTS; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		oa2_keycache_put(&id, doc, strlen(doc), iss, OA2_PS256, name,
				 strlen(name), k, 42);
		assert_true(oa2_keycache_count() <= OA2_KEYCACHE_SLOTS);
	}
	assert_int_equal(oa2_keycache_count(), OA2_KEYCACHE_SLOTS);
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, "a", k), OA2_ENOKEY);
	assert_int_equal(kc_get(&id, doc, iss, OA2_PS256, "k31", k), OA2_OK);
	/* an EC key is never memoized for an RSA algorithm */
	oa2_keycache_flush();
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	oa2_keycache_put(&id, doc, strlen(doc), iss, OA2_RS256, "e", 1, ec, 42);
	assert_int_equal(oa2_keycache_count(), 0);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(k);
}

/* Several threads hitting, inserting and evicting at once (ASan/UBSan run). */
struct kc_arg {
	EVP_PKEY *k;
	int id;
	int hits, bad;
};

static void *kc_thread(void *p)
{
	struct kc_arg *a = p;
	struct oa2_ident id = { 1, 2, 3, 4, 5 };
	const char *doc = "{}";
	char kid[16];

	for (int i = 0; i < 300; i++) {
		EVP_PKEY *g = NULL;
		EVP_MD_CTX *md = NULL;
		long long fat;

		/* first 4 kids per thread (16 in all: they fit), then 24 (evictions) */
		snprintf(kid, sizeof(kid), "t%d-%d", a->id, i < 150 ? i % 4 : i % 24);
		if (oa2_keycache_get(&id, doc, 2, "https://i", OA2_RS256, kid,
				     strlen(kid), &g, &md, &fat) == OA2_OK) {
			a->hits++;
			a->bad += g != a->k || md == NULL || fat != 42;
			EVP_PKEY_free(g);
			EVP_MD_CTX_free(md);
		} else {
			oa2_keycache_put(&id, doc, 2, "https://i", OA2_RS256,
					 kid, strlen(kid), a->k, 42);
		}
	}
	return NULL;
}

static void test_keycache_threads(void **st)
{
	(void)st;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	pthread_t th[4];
	struct kc_arg args[4];

	assert_non_null(k);
	oa2_keycache_flush();
	for (int i = 0; i < 4; i++) {
		args[i] = (struct kc_arg){ k, i, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, kc_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_true(oa2_keycache_count() <= OA2_KEYCACHE_SLOTS);
	/* hits happened, and each returned the stored key and a context */
	for (int i = 0; i < 4; i++) {
		assert_true(args[i].hits > 0);
		assert_int_equal(args[i].bad, 0);
	}
	oa2_keycache_flush();
	assert_int_equal(oa2_keycache_count(), 0);
	EVP_PKEY_free(k);
}

static void test_escape(void **st)
{
	(void)st;
	char out[64];
	oa2_escape("a\nb'\\", 5, out, sizeof(out));
	assert_string_equal(out, "a\\x0ab\\x27\\x5c");
	oa2_escape("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 35, out, 10);
	assert_true(strlen(out) < 10);
}

/* ---- jwt_only's shape test, require_claim, allowed_users, user_map ---- */
static void test_shaped(void **st)
{
	(void)st;
	/* {"alg":"RS256"} . x . y */
	assert_true(oa2_jws_shaped("eyJhbGciOiJSUzI1NiJ9.eA.eQ", 26));
	const char *no[] = { "", "hunter2", "a.b", "a.b.c.d", ".b.c", "eyJhbGciOiJSUzI1NiJ9..eQ",
			     "eyJhbGciOiJSUzI1NiJ9.eA.", "eyJhbGciOiJSUzI1NiJ9.e A.eQ",
			     "eyJhbGciOiJSUzI1NiJ9.eA.eQ=", "bm90anNvbg.eA.eQ",
			     "WzFd.eA.eQ" /* [1]: JSON but no object */ };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(oa2_jws_shaped(no[i], strlen(no[i])));
}

static int authz(const char *pl, const char *user, int argc, const char **extra)
{
	const char *argv[12] = { "issuer=https://idp.example", "aud=pam" };
	struct oa2_config c;
	json_t *p;
	const char *r;
	int rc;

	for (int i = 0; i < argc; i++)
		argv[2 + i] = extra[i];
	if (parse(2 + argc, argv, &c) != 0)
		return -2;
	p = oa2_json_object(pl, strlen(pl));
	if (p == NULL)
		return -1;
	rc = oa2_claims_check(p, &c, user, 1700000000, &r, NULL);
	json_decref(p);
	return rc;
}

static void test_authz(void **st)
{
	(void)st;
	const char *req[] = { "require_claim=groups:admins|ops", "require_claim=amr:mfa" };
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":[\"x\",\"ops\"],\"amr\":[\"pwd\",\"mfa\"]"), "a", 2, req), OA2_OK);
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":\"admins\",\"amr\":\"mfa\""), "a", 2, req), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":[\"x\"],\"amr\":[\"mfa\"]"), "a", 2, req), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":[\"ops\"]"), "a", 2, req), OA2_OK);
	/* a prefix or a longer value is no match; "|" alone matches nothing */
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":\"op\",\"amr\":\"mfa\""), "a", 2, req), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"groups\":\"opsx\",\"amr\":\"mfa\""), "a", 2, req), OA2_OK);
	const char *bar[] = { "require_claim=g:|" };
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"g\":\"\""), "a", 1, bar), OA2_OK);
	const char *boo[] = { "require_claim=email_verified:true" };
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"email_verified\":true"), "a", 1, boo), OA2_OK);
	/* some IdPs send the string "true": the same word, accepted */
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"email_verified\":\"true\""), "a", 1, boo), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\",\"email_verified\":false"), "a", 1, boo), OA2_OK);
	const char *users[] = { "allowed_users=bob,alice" };
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"alice\""), "alice", 1, users), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"ali\""), "ali", 1, users), OA2_OK);
	assert_int_not_equal(authz(PL("\"exp\":1800000000,\"sub\":\"bob,alice\""), "bob,alice", 1, users), OA2_OK);
	const char *bad[][1] = { { "require_claim=nocolon" }, { "require_claim=:v" },
				 { "require_claim=n:" }, { "allowed_users=" },
				 { "user_map=rel/path" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\""), "a", 1, bad[i]), -2);
	const char *nine[9];
	for (int i = 0; i < 9; i++)
		nine[i] = "require_claim=a:b";
	assert_int_equal(authz(PL("\"exp\":1800000000,\"sub\":\"a\""), "a", 9, nine), -2);
}

static void test_usermap(void **st)
{
	char dir[] = "/tmp/oa2-usermap-XXXXXX", path[64], user[16];
	const char *r;
	FILE *f;

	(void)st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/map", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# comment\n\n  # indented comment\nalice@example.com alice\n"
	      "bad line with three\nlonely\nbob@example.com\t \tbob\r\n"
	      "carol@example.com averyveryverylongname\n", f);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(oa2_usermap_lookup(path, "alice@example.com", user, sizeof(user), &r), OA2_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(oa2_usermap_lookup(path, "bob@example.com", user, sizeof(user), &r), OA2_OK);
	assert_string_equal(user, "bob");
	assert_int_not_equal(oa2_usermap_lookup(path, "bad", user, sizeof(user), &r), OA2_OK);
	assert_int_not_equal(oa2_usermap_lookup(path, "lonely", user, sizeof(user), &r), OA2_OK);
	assert_int_not_equal(oa2_usermap_lookup(path, "ALICE@example.com", user, sizeof(user), &r), OA2_OK);
	assert_int_not_equal(oa2_usermap_lookup(path, "carol@example.com", user, sizeof(user), &r), OA2_OK);
	assert_string_equal(r, "user_map: local user name too long");
	chmod(path, 0664);
	assert_int_not_equal(oa2_usermap_lookup(path, "alice@example.com", user, sizeof(user), &r), OA2_OK);
	assert_string_equal(r, "user_map may be changed by others (owner, mode)");
	unlink(path);
	assert_int_not_equal(oa2_usermap_lookup(path, "alice@example.com", user, sizeof(user), &r), OA2_OK);
	rmdir(dir);
}

static void test_groups(void **st)
{
	struct oa2_configs all;
	char err[OA2_ERRLEN];
	(void)st;
	/* aud before the first issuer= is the first group's; cache_ttl is
	   everybody's wherever it stands */
	const char *argv[] = { "aud=pam", "issuer=https://a.example", "cache_ttl=5",
			       "issuer=https://b.example", "aud=ssh", "alg=ES256",
			       "login_field=email", "require_claim=g:x", "debug" };
	assert_int_equal(oa2_configs_parse(&all, 9, argv, err, sizeof(err)), 0);
	assert_int_equal(all.n, 2);
	assert_string_equal(all.g[0].issuer, "https://a.example");
	assert_int_equal(all.g[0].n_aud, 1);
	assert_string_equal(all.g[0].aud[0], "pam");
	assert_int_equal(all.g[0].alg, OA2_RS256);
	assert_string_equal(all.g[0].login_field, "sub");
	assert_int_equal(all.g[0].n_require, 0);
	assert_int_equal(all.g[0].cache_ttl, 5);
	assert_true(all.g[0].debug);
	assert_string_equal(all.g[1].aud[0], "ssh");
	assert_int_equal(all.g[1].alg, OA2_ES256);
	assert_string_equal(all.g[1].login_field, "email");
	assert_int_equal(all.g[1].n_require, 1);
	assert_int_equal(all.g[1].cache_ttl, 5);
	assert_ptr_equal(oa2_configs_find(&all, "https://b.example", 17), &all.g[1]);
	assert_null(oa2_configs_find(&all, "https://b.example/", 18));
	assert_null(oa2_configs_find(&all, "https://b.exampl", 16));
	/* a group without aud, the same issuer twice */
	const char *noaud[] = { "issuer=https://a.example", "aud=x", "issuer=https://b.example" };
	assert_int_equal(oa2_configs_parse(&all, 3, noaud, err, sizeof(err)), -1);
	const char *twice[] = { "issuer=https://a.example", "aud=x", "issuer=https://a.example", "aud=y" };
	assert_int_equal(oa2_configs_parse(&all, 4, twice, err, sizeof(err)), -1);
	/* one issuer: as before */
	const char *one[] = { "issuer=https://a.example", "aud=x" };
	assert_int_equal(oa2_configs_parse(&all, 2, one, err, sizeof(err)), 0);
	assert_int_equal(all.n, 1);
	/* the token's iss, read before any check */
	size_t n = 0;
	char *iss = oa2_token_issuer("eA.eyJpc3MiOiJodHRwczovL2EuZXhhbXBsZSJ9.eQ", 41, &n);
	assert_non_null(iss);
	assert_int_equal(n, 17);
	assert_string_equal(iss, "https://a.example");
	free(iss);
	assert_null(oa2_token_issuer("nodots", 6, &n));
	/* device_flow: client_id required, and an aud (the ID token's) */
	struct oa2_config dc;
	const char *dev_ok[] = { "issuer=https://a.example", "aud=x", "aud=cli",
				 "client_id=cli", "device_flow", "scope=openid,email",
				 "device_timeout=30" };
	assert_int_equal(parse(7, dev_ok, &dc), 0);
	assert_true(dc.device_flow);
	assert_string_equal(dc.scope, "openid,email");
	assert_int_equal(dc.device_timeout, 30);
	const char *dev_noid[] = { "issuer=https://a.example", "aud=x", "device_flow" };
	assert_int_not_equal(parse(3, dev_noid, &dc), 0);
	const char *dev_noaud[] = { "issuer=https://a.example", "aud=x", "client_id=cli",
				    "device_flow" };
	assert_int_not_equal(parse(4, dev_noaud, &dc), 0);
	const char *dev_t[] = { "issuer=https://a.example", "aud=x", "device_timeout=901" };
	assert_int_not_equal(parse(3, dev_t, &dc), 0);
	assert_null(oa2_token_issuer("a.bm90anNvbg.c", 14, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url), cmocka_unit_test(test_config),
		cmocka_unit_test(test_json), cmocka_unit_test(test_jws),
		cmocka_unit_test(test_claims), cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_ec), cmocka_unit_test(test_select),
		cmocka_unit_test(test_cache), cmocka_unit_test(test_keycache),
		cmocka_unit_test(test_keycache_threads),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_shaped), cmocka_unit_test(test_authz),
		cmocka_unit_test(test_usermap), cmocka_unit_test(test_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
