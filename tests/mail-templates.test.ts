import {
  describeDuration,
  passwordChangedMail,
  passwordResetMail,
  verificationMail,
} from "../src/mail/templates";

/** Every value a template shows is escaped in its HTML, and nothing loads from elsewhere. */
describe("mail templates", () => {
  const hostile = {
    username: `<img src=x onerror="alert(1)">&'`,
    link: `https://app.example.com/verify-email?token=a"><script>alert(1)</script>`,
    token: `<b>token</b>`,
    ttlSeconds: 1800,
  };

  it("escape every value in the HTML, keep the text as typed", () => {
    for (const mail of [
      verificationMail(hostile),
      passwordResetMail(hostile),
      passwordChangedMail({
        username: hostile.username,
        how: "change",
        at: new Date("2026-12-01T10:00:00Z"),
        forgotLink: hostile.link,
      }),
    ]) {
      expect(mail.html).not.toMatch(/<script|<img|<b>token/);
      expect(mail.html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;");
      expect(mail.html).toContain(
        'href="https://app.example.com/verify-email?token=a&quot;&gt;&lt;script&gt;',
      );
      expect(mail.text).toContain(hostile.username);
      // No images, styles or fonts from elsewhere: nothing tells a tracker the mail was read.
      expect(mail.html).not.toMatch(/<(img|link|iframe|object)\b|url\(/i);
      expect(mail.subject).not.toMatch(/[\r\n]/);
    }
  });

  it("say how long a link works in words", () => {
    expect(describeDuration(1800)).toBe("30 minutes");
    expect(describeDuration(86_400)).toBe("24 hours");
    expect(describeDuration(3_600)).toBe("1 hour");
    expect(describeDuration(5_400)).toBe("1 hour and 30 minutes");
    expect(describeDuration(172_800)).toBe("2 days");
  });
});
