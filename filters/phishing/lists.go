package phishing

import "strings"

// freemailDomains are consumer mailbox services: anybody can open an
// address there, so a brand's or a company's mail never comes from one,
// and a Reply-To there takes the answer out of the company. Names with
// many country variants are matched by their first label
// (freemailLabels).
var freemailDomains = []string{
	"gmail.com", "googlemail.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "icloud.com", "me.com", "mac.com",
	"msn.com", "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de", "mail.ru", "bk.ru",
	"inbox.ru", "list.ru", "yandex.ru", "yandex.com", "ya.ru", "protonmail.com", "proton.me", "pm.me", "tutanota.com",
	"tuta.io", "zoho.com", "zohomail.com", "mail.com", "email.com", "usa.com", "gmx.us", "orange.fr", "wanadoo.fr", "free.fr",
	"sfr.fr", "laposte.net", "libero.it", "virgilio.it", "alice.it", "tiscali.it", "uol.com.br", "bol.com.br",
	"terra.com.br", "ig.com.br", "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "naver.com", "daum.net",
	"seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl", "rediffmail.com", "btinternet.com", "sky.com",
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net", "charter.net", "earthlink.net", "juno.com",
	"netzero.net", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com", "sympatico.ca", "telus.net", "xs4all.nl",
	"ziggo.nl", "kpnmail.nl", "telenet.be", "skynet.be", "bluewin.ch", "hushmail.com", "fastmail.com", "mailfence.com",
	"gmx.fr", "lycos.com", "excite.com", "inbox.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
}

// freemailLabels are mailbox services with a domain per country
// (hotmail.co.uk, yahoo.com.br, outlook.de, live.fr).
var freemailLabels = []string{"hotmail", "outlook", "live", "yahoo", "windowslive", "gmx", "yandex"}

// shortenerDomains are URL shorteners and redirect services: the link
// says nothing of where it goes, which a phishing message wants and a
// brand's own mail has no use for. Registrable domains or hosts.
var shortenerDomains = []string{
	"bit.ly", "bitly.com", "bitly.ws", "j.mp", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "v.gd", "buff.ly",
	"rebrand.ly", "rb.gy", "cutt.ly", "cutt.us", "shorturl.at", "t.ly", "tiny.cc", "tiny.one", "s.id", "bit.do",
	"qrco.de", "lnkd.in", "urlz.fr", "shorte.st", "adf.ly", "bl.ink", "soo.gd", "clck.ru", "u.to", "x.co", "tr.im",
	"snip.ly", "linktr.ee", "han.gl", "l.ead.me", "surl.li", "shorturl.asia", "gg.gg", "did.li", "qr.net",
	"page.link", "app.link", "1url.com", "short.gy", "shorturl.com", "tinu.be", "cli.re", "u.nu", "hyperurl.co",
	"2u.pw", "trib.al", "dlvr.it", "ift.tt", "zpr.io", "zws.im", "smarturl.it", "rotf.lol", "rebrandly.com",
	"wa.link", "bitly.is", "lnk.to", "tinyurl.hu", "chilp.it", "shrtco.de", "9qr.de", "qrs.ly", "me-qr.com",
}

// freeHosting are hosting, storage and form services where anybody can
// put a page under the service's name in minutes, free: where credential
// pages live, since their names are trusted and cannot be listed whole.
// A host matches an entry it equals or ends with ("x.web.app"); an entry
// with a path matches URLs under it.
var freeHosting = []string{
	// Services on a host of their own: every URL there is a user's.
	"storage.googleapis.com", "firebasestorage.googleapis.com", "sites.google.com", "docs.google.com/forms",
	"forms.gle", "script.google.com", "script.googleusercontent.com", "forms.office.com", "forms.microsoft.com",
	"sway.office.com", "sway.cloud.microsoft", "1drv.ms", "onedrive.live.com", "we.tl", "form.jotform.com",
	"express.adobe.com", "acrobat.adobe.com", "dweb.link", "ipfs.io", "cloudflare-ipfs.com", "w3s.link",
	"nftstorage.link", "s3.amazonaws.com", "padlet.com", "codepen.io", "my.canva.site",
	// Platforms that give each user a name under theirs (".x": the
	// tenants, not the platform's own site).
	".firebaseapp.com", ".web.app", ".appspot.com", ".run.app", ".cloudfunctions.net", ".googleusercontent.com",
	".blogspot.com", ".github.io", ".gitlab.io", ".netlify.app", ".vercel.app", ".pages.dev", ".workers.dev",
	".r2.dev", ".herokuapp.com", ".glitch.me", ".repl.co", ".replit.app", ".replit.dev", ".onrender.com", ".fly.dev",
	".azurewebsites.net", ".blob.core.windows.net", ".web.core.windows.net", ".azurestaticapps.net",
	".s3.amazonaws.com", ".amplifyapp.com", ".000webhostapp.com", ".weebly.com", ".weeblysite.com", ".wixsite.com",
	".godaddysites.com", ".webflow.io", ".square.site", ".mystrikingly.com", ".jimdosite.com", ".jimdofree.com",
	".site123.me", ".yolasite.com", ".ipfs.dweb.link", ".ipfs.w3s.link", ".fleek.co", ".notion.site", ".canva.site",
	".typedream.app", ".jotform.com", ".formstack.com", ".123formbuilder.com", ".wufoo.com", ".zohopublic.com",
	".backblazeb2.com", ".digitaloceanspaces.com", ".linodeobjects.com", ".wasabisys.com", ".ngrok.io",
	".ngrok-free.app", ".ngrok.app", ".trycloudflare.com", ".loca.lt", ".carrd.co", ".tilda.ws", ".wordpress.com",
	".webnode.page", ".framer.app", ".framer.website", ".glide.page", ".bubbleapps.io", ".webcindario.com",
	".altervista.org", ".byethost.com", ".infinityfreeapp.com", ".rf.gd", ".epizy.com", ".backendless.app",
	".supabase.co", ".csb.app", ".stackblitz.io", ".gitbook.io", ".dropboxusercontent.com", ".sharepoint.com",
	".surveyheart.com", ".lark.com", ".larksuite.com", ".feishu.cn", ".quip.com", ".craft.me",
}

// hostMatches reports whether host (lower case, no trailing dot) and
// path fall under entry: "x.example" matches that host and the hosts
// under it, ".x.example" only the hosts under it (a platform's tenants,
// not its own site), "x.example/path" URLs under the path.
func hostMatches(host, path, entry string) bool {
	h, p, _ := strings.Cut(entry, "/")
	if strings.HasPrefix(h, ".") {
		if !strings.HasSuffix(host, h) || host == "www"+h {
			return false
		}
	} else if host != h && !strings.HasSuffix(host, "."+h) {
		return false
	}
	return p == "" || strings.HasPrefix(strings.TrimPrefix(path, "/"), p)
}

// serviceWords are what a brand's own sender names add to its name
// ("PayPal Service", "Ledger Support Team"): with a word-like brand, a
// display name of the brand and such words only is a claim.
var serviceWords = map[string]bool{
	"support": true, "team": true, "service": true, "services": true, "security": true, "account": true,
	"accounts": true, "notification": true, "notifications": true, "alert": true, "alerts": true, "billing": true,
	"customer": true, "customers": true, "care": true, "help": true, "helpdesk": true, "desk": true, "no": true,
	"reply": true, "noreply": true, "info": true, "official": true, "online": true, "wallet": true, "bank": true,
	"banking": true, "pay": true, "payment": true, "payments": true, "center": true, "centre": true, "inc": true,
	"llc": true, "ltd": true, "corp": true, "corporation": true, "app": true, "id": true, "mail": true, "news": true,
	"update": true, "updates": true, "verification": true, "verify": true, "rewards": true, "prime": true,
	"premium": true, "pro": true, "global": true, "express": true, "delivery": true, "shipping": true,
	"tracking": true, "store": true, "shop": true, "live": true, "cloud": true, "storage": true, "drive": true,
	"admin": true, "administrator": true, "webmail": true, "message": true, "messages": true, "system": true,
	"suporte": true, "servicio": true, "servico": true, "serviço": true, "atendimento": true, "cliente": true,
	"kundenservice": true, "kundendienst": true, "equipe": true, "equipo": true, "conta": true, "cuenta": true,
	"konto": true, "sicherheit": true, "seguranca": true, "segurança": true, "seguridad": true, "com": true,
	"the": true, "official®": true, "and": true, "de": true, "do": true, "da": true,
}
