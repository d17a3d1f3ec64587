/* test_redact.c — what server.log_content writes instead of personal data and secrets
 * (src/core/sy_redact.c). */
#include <string.h>

#include "core/sy_core.h"
#include "sy_test.h"

static void check(const char *in, const char *want)
{
    sy_buf b;
    sy_buf_init(&b);
    sy_redact(in, strlen(in), &b);
    CHECK_STR(b.data ? b.data : "", want);
    sy_buf_free(&b);
}

TEST(redacts_emails_phones_and_keys)
{
    check("mail me at ada.lovelace@example.com.", "mail me at [email].");
    check("call +44 20 7946 0958 now", "call [phone] now");
    check("or (555) 123-4567, thanks", "or [phone], thanks");
    check("key sk-proj-abcdef1234567890XYZ done", "key [key] done");
    check("Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6", "Authorization: Bearer [key]");
    check("x@y.io and bob@corp.example.org", "[email] and [email]");
}

TEST(keeps_ordinary_text)
{
    check("the year 2026 and 42 apples, 3.14 and v1.2.3", "the year 2026 and 42 apples, 3.14 and v1.2.3");
    check("an @mention and a@b", "an @mention and a@b");
    check("internationalization-and-localization", "internationalization-and-localization");
    check("été à Paris, 東京", "été à Paris, 東京");
    check("", "");
}

int main(void)
{
    RUN(redacts_emails_phones_and_keys);
    RUN(keeps_ordinary_text);
    return sy_test_summary();
}
