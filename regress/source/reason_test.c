/*
 * Unit tests of what an insert depends on without nbdkit: the words
 * source_reason.c finds in nbdkit's stderr (and that garbage finds none
 * and does no harm), and allow-source's matching rules (conf_lookup.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "source.h"
#include "test.h"

static void
expect_reason(const char *name, const char *text, const char *want)
{
	char out[128];
	int found = source_reason(text, strlen(text), out, sizeof(out));

	if (want == NULL)
		test_result(name, !found, "found '%s' where none is", out);
	else
		test_result(name, found && strcmp(out, want) == 0,
		    "got '%s' (%d), want '%s'", out, found, want);
}

static void
test_reasons(void)
{
	char garbage[SOURCE_STDERR_MAX], out[16];
	int i, ok = 1;

	expect_reason("reason_connection_refused_from_the_nbd_plugin",
	    "nbdkit: nbd[1]: error: nbd_connect_tcp: connect: 10.0.0.1:10809: "
	    "could not connect to remote host: Connection refused\n",
	    "connection refused");
	expect_reason("reason_http_404_from_the_curl_plugin",
	    "nbdkit: curl[1]: error: problem doing HEAD request to fetch size "
	    "of URL [https://h/x.iso]: HTTP response code said error: The "
	    "requested URL returned error: 404\n",
	    "HTTP 404");
	expect_reason("reason_http_403_without_a_newline",
	    "curl: error: The requested URL returned error: 403", "HTTP 403");
	expect_reason("reason_dns_failure_of_the_curl_plugin",
	    "nbdkit: curl[1]: error: problem doing HEAD request: Couldn't "
	    "resolve host name: Could not resolve host: no.example\n",
	    "DNS: host not found");
	expect_reason("reason_dns_failure_of_the_nbd_plugin",
	    "nbdkit: nbd[1]: error: nbd_connect_tcp: getaddrinfo: hostname "
	    "\"x.invalid\" port \"10809\": Name or service not known\n",
	    "DNS: host not found");
	expect_reason("reason_untrusted_certificate_of_the_curl_plugin",
	    "nbdkit: curl[1]: error: problem doing HEAD request: SSL peer "
	    "certificate or SSH remote key was not OK: server certificate "
	    "verification failed.\n",
	    "TLS: certificate verify failed");
	expect_reason("reason_redirect_not_followed",
	    "nbdkit: curl[1]: error: curl: server does not support 'range' "
	    "(byte range) requests\n",
	    "HTTP: no Range requests (a redirect? they are not followed)");
	/* The last error line says it, not an earlier one. */
	expect_reason("reason_is_the_last_error_line",
	    "nbdkit: nbd[1]: error: Connection reset by peer\n"
	    "nbdkit: nbd[1]: error: connect: Connection refused\n",
	    "connection refused");
	expect_reason("reason_needs_an_error_line",
	    "nbdkit: debug: Connection refused was retried\n", NULL);
	expect_reason("reason_none_in_nothing", "", NULL);
	expect_reason("reason_http_status_needs_three_digits",
	    "error: The requested URL returned error: 4040\n", NULL);
	{
		static const char nul[] = "error: x\0nbdkit: error: Connection "
					  "refused";
		char got[64];

		/* A NUL ends a line, nothing more. */
		test_result("reason_found_past_a_nul_byte",
		    source_reason(nul, sizeof(nul) - 1, got, sizeof(got)) &&
			strcmp(got, "connection refused") == 0,
		    "got '%s'", got);
	}
	/* Garbage: every byte value, the whole tail; no reason, no crash. */
	srand(14);
	for (i = 0; i < 2000 && ok; i++) {
		size_t j, len = (size_t)rand() % sizeof(garbage);

		for (j = 0; j < len; j++)
			garbage[j] = (char)(rand() % 256);
		source_reason(garbage, len, out, sizeof(out));
		ok = memchr(out, '\0', sizeof(out)) != NULL;
	}
	test_result("reason_of_garbage_is_bounded_and_terminated", ok,
	    "an unterminated reason at round %d", i);
	test_result("reason_of_more_than_the_tail_is_none",
	    source_reason(garbage, SOURCE_STDERR_MAX + 1, out, sizeof(out)) ==
		0,
	    "found one");
}

static void
expect_allowed(const char *name, const char *list, const char *uri, int want)
{
	struct conf_source src;
	char why[160];
	const char *r = conf_source_parse(uri, &src, why, sizeof(why));

	test_result(name, r == NULL && conf_source_allowed(list, &src) == want,
	    "%s: %s", uri,
	    r != NULL ? r :
		want  ? "refused" :
			"allowed");
}

static void
test_allow(void)
{
	const char *list = "https://images.example.com nbd://10.0.0.0/8 "
			   "nbds://[2001:db8::1]:10810 http://192.0.2.9:80";

	expect_allowed("allow_https_host_any_path", list,
	    "https://images.example.com/debian/x.iso", 1);
	expect_allowed("allow_host_in_any_case", list,
	    "https://IMAGES.Example.COM/x.iso", 1);
	expect_allowed("allow_no_port_in_the_pattern_takes_any_port", list,
	    "https://images.example.com:8443/x.iso", 1);
	expect_allowed("allow_scheme_must_be_the_same", list,
	    "http://images.example.com/x.iso", 0);
	expect_allowed("allow_subdomain_is_not_the_host", list,
	    "https://evil.images.example.com/x.iso", 0);
	expect_allowed("allow_suffix_is_not_the_host", list,
	    "https://images.example.com.evil.example/x.iso", 0);
	expect_allowed("allow_ipv4_network_takes_an_address_in_it", list,
	    "nbd://10.200.3.4/disk", 1);
	expect_allowed("allow_ipv4_network_not_an_address_outside", list,
	    "nbd://11.0.0.1/disk", 0);
	expect_allowed("allow_ipv4_network_never_a_name", list,
	    "nbd://ten.example/disk", 0);
	expect_allowed("allow_ipv6_however_written", list,
	    "nbds://[2001:0db8:0:0::1]:10810/disk", 1);
	expect_allowed("allow_port_must_be_the_patterns", list,
	    "nbds://[2001:db8::1]/disk", 0);
	expect_allowed("allow_default_port_matches_a_pattern_port", list,
	    "http://192.0.2.9/boot.img", 1);
	expect_allowed("allow_nbd_unix_never", "nbd://localhost",
	    "nbd+unix:///?socket=/run/x.sock", 0);
	expect_allowed("allow_empty_list_allows_nothing", "", "nbd://10.0.0.1/",
	    0);
	expect_allowed("allow_network_0_takes_every_ipv4", "nbd://0.0.0.0/0",
	    "nbd://203.0.113.5/", 1);
	expect_allowed("allow_network_32_is_one_address", "nbd://10.0.0.1/32",
	    "nbd://10.0.0.2/", 0);
}

int
main(void)
{
	test_reasons();
	test_allow();
	return test_done();
}
