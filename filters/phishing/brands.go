package phishing

import "strings"

// builtinBrands are the brands phishing impersonates most, from the
// public reports of the last years (financial services, webmail and
// office suites, parcel services, marketplaces, streaming, crypto
// wallets and exchanges, security software for "subscription renewal"
// scams) and the banks and services of the languages the mail is in.
// Each line: the brand's name | its registrable domains (where its own
// mail and pages are) | other names it is called by. A name or alias
// shorter than four letters is claimed only as the whole display name
// or in brackets ("[BB]"), being a word or an abbreviation elsewhere.
//
// Consumer mailboxes (hotmail.com, gmail.com, yahoo.com) are not listed
// as any brand's: a brand's mail never comes from a mailbox anybody can
// open there, and the free-mail list marks them.
const builtinBrands = `
Microsoft|microsoft.com microsoftonline.com office.com office365.com office.net outlook.com live.com microsoft365.com sharepoint.com onedrive.com windows.com windowsupdate.com azure.com bing.com xbox.com skype.com msn.com msft.net microsoftstore.com|microsoft 365, office 365, outlook, onedrive, sharepoint, microsoft teams, windows defender
Apple|apple.com icloud.com me.com mac.com itunes.com|icloud, itunes, apple id, apple pay, app store
Amazon|amazon.com amazon.co.uk amazon.de amazon.fr amazon.it amazon.es amazon.ca amazon.com.br amazon.com.mx amazon.co.jp amazon.in amazon.nl amazon.com.au amazonses.com amazonaws.com primevideo.com|amazon prime, prime video, amazon pay, aws
PayPal|paypal.com paypal.me paypal-communication.com paypalobjects.com|pay pal
Netflix|netflix.com netflix.net nflxext.com|
Google|google.com gmail.com youtube.com googlemail.com withgoogle.com gstatic.com|gmail, google drive, google docs, youtube
Meta|facebook.com facebookmail.com fb.com meta.com instagram.com whatsapp.com messenger.com|facebook, instagram, whatsapp, meta business
LinkedIn|linkedin.com licdn.com|linked in
DHL|dhl.com dhl.de dhl.fr dhl.nl dhl.es dhl.co.uk dhl-news.com deutschepost.de|dhl express, dhl paket, deutsche post
FedEx|fedex.com|fed ex, federal express
UPS|ups.com|united parcel service
USPS|usps.com|united states postal service, us postal service
Royal Mail|royalmail.com royalmail.co.uk|
Correios|correios.com.br|
Correos|correos.es correos.com|
CTT|ctt.pt|ctt expresso
PostNL|postnl.nl postnl.com|
DPD|dpd.com dpd.de dpd.co.uk dpd.fr|
GLS|gls-group.eu gls-group.com gls.de|
Hermes|myhermes.de hermesworld.com evri.com|evri
La Poste|laposte.fr laposte.net colissimo.fr|colissimo
Canada Post|canadapost.ca postescanada.ca|postes canada
Australia Post|auspost.com.au|auspost
Deutsche Bahn|bahn.de deutschebahn.com|db fernverkehr
Bradesco|bradesco.com.br bradescoseguros.com.br|banco bradesco
Itaú|itau.com.br itau.com|itau, banco itau, itaú unibanco
Banco do Brasil|bb.com.br|bb
Caixa|caixa.gov.br|caixa economica, caixa econômica federal
Santander|santander.com santander.com.br santander.co.uk santander.es santander.de santander.pt|banco santander
Nubank|nubank.com.br nu.com.mx|nu bank
Mercado Livre|mercadolivre.com.br mercadolibre.com mercadolibre.com.ar mercadolibre.com.mx mercadopago.com mercadopago.com.br|mercado libre, mercado pago
Livelo|livelo.com.br|
Porto Seguro|portoseguro.com.br|
Sicredi|sicredi.com.br|
BBVA|bbva.com bbva.es bbva.mx|
ING|ing.com ing.nl ing.de ing.es ing.be|
Sparkasse|sparkasse.de|
Commerzbank|commerzbank.de|
N26|n26.com|
Revolut|revolut.com|
HSBC|hsbc.com hsbc.co.uk|
Barclays|barclays.com barclays.co.uk|
Lloyds Bank|lloydsbank.com lloydsbank.co.uk|lloyds
NatWest|natwest.com|
Chase|chase.com jpmorgan.com jpmorganchase.com|jpmorgan chase
Wells Fargo|wellsfargo.com|
Bank of America|bankofamerica.com bofa.com|bofa
Citibank|citi.com citibank.com|citi
American Express|americanexpress.com aexp.com amex.com|amex
Visa|visa.com|
Mastercard|mastercard.com|
Coinbase|coinbase.com|
Binance|binance.com|
Kraken|kraken.com|
Crypto.com|crypto.com|
Blockchain.com|blockchain.com|
MetaMask|metamask.io consensys.io consensys.net|meta mask
Ledger|ledger.com|ledger live
Trezor|trezor.io|
Trust Wallet|trustwallet.com|trustwallet
Exodus|exodus.com|exodus wallet
Phantom|phantom.app|phantom wallet
Uniswap|uniswap.org|
OpenSea|opensea.io|
DocuSign|docusign.com docusign.net|docu sign
Adobe|adobe.com adobesign.com|adobe sign, adobe acrobat
Dropbox|dropbox.com dropboxmail.com|
WeTransfer|wetransfer.com|we transfer
Zoom|zoom.us zoom.com|
Norton|norton.com nortonlifelock.com gen.com|norton 360, norton antivirus, lifelock
McAfee|mcafee.com|mcafee total protection
Avast|avast.com avg.com|avg
TotalAV|totalav.com|total av
Kaspersky|kaspersky.com|
Bitdefender|bitdefender.com|
Malwarebytes|malwarebytes.com|
PagSeguro|pagseguro.uol.com.br pagbank.com.br|pagbank
Ripple|ripple.com|xrp ledger
Lido|lido.fi|lido finance
Geek Squad|geeksquad.com bestbuy.com|
Best Buy|bestbuy.com|
Walmart|walmart.com|
Costco|costco.com costco.co.uk|
The Home Depot|homedepot.com|home depot
Lowe's|lowes.com|lowes
Lidl|lidl.de lidl.com lidl.co.uk lidl.fr lidl.es lidl.it lidl.nl|
Aldi|aldi.de aldi-nord.de aldi-sued.de aldi.us aldi.co.uk aldi.com.au|aldi nord, aldi süd
Edeka|edeka.de|
Rossmann|rossmann.de|
MediaMarkt|mediamarkt.de mediamarkt.com mediamarkt.nl mediamarkt.es|media markt
IKEA|ikea.com|
Zalando|zalando.de zalando.com zalando.fr zalando.nl zalando.it|
Decathlon|decathlon.com decathlon.de decathlon.fr decathlon.es decathlon.co.uk|
Kaufland|kaufland.de|
Carrefour|carrefour.fr carrefour.com carrefour.es|
Tesco|tesco.com|
CVS|cvs.com|cvs pharmacy
Walgreens|walgreens.com|
Kohl's|kohls.com|kohls
Sam's Club|samsclub.com|sams club
Harbor Freight|harborfreight.com|harbor freight tools
eBay|ebay.com ebay.de ebay.co.uk ebay.fr|
AliExpress|aliexpress.com alibaba.com|
Shopee|shopee.com.br shopee.com|
Spotify|spotify.com|
Disney+|disneyplus.com disney.com go.com|disney plus
HBO Max|hbomax.com max.com|
Steam|steampowered.com steamcommunity.com|
Roblox|roblox.com|
Booking.com|booking.com|
Airbnb|airbnb.com|
Yahoo|yahoo.com yahoo.net aol.com|aol
Proton|proton.me protonmail.com|protonmail, proton mail
Outlook Web|outlook.office.com|
Telegram|telegram.org t.me|
TikTok|tiktok.com|
Instagram|instagram.com|
WhatsApp|whatsapp.com|
Twitter|twitter.com x.com|
Discord|discord.com discordapp.com|
HMRC|gov.uk|hm revenue
IRS|irs.gov|internal revenue service
FBI|fbi.gov ic3.gov|federal bureau of investigation
United Nations|un.org|
International Monetary Fund|imf.org|imf
World Bank|worldbank.org|
`

// Brand is one brand the check protects: its names and the registrable
// domains that are its own.
type Brand struct {
	// Name is the brand as shown in symbol details.
	Name string `yaml:"name"`
	// Domains are its registrable domains (its own mail, pages, links).
	Domains []string `yaml:"domains"`
	// Aliases are other names it is called by (products, short names).
	Aliases []string `yaml:"aliases"`
}

// parseBrands reads the builtinBrands table.
func parseBrands(table string) []Brand {
	var out []Brand
	for _, line := range strings.Split(table, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		b := Brand{Name: strings.TrimSpace(f[0]), Domains: strings.Fields(f[1])}
		for _, a := range strings.Split(f[2], ",") {
			if a = strings.TrimSpace(a); a != "" {
				b.Aliases = append(b.Aliases, a)
			}
		}
		out = append(out, b)
	}
	return out
}

// BuiltinBrands returns the shipped brand list.
func BuiltinBrands() []Brand { return parseBrands(builtinBrands) }
