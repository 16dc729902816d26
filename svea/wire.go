package svea

// The Instore API's JSON, field by field as Svea publishes it (camelCase):
// sveawebpay/php-instore docs/Model/*.md and lib/Model/*.php (attributeMap),
// and docs.payments.svea.com/docs/instore/data-types. Amounts, quantities
// and percentages are in "minor units": quantity 100 = 1, vatPercent
// 2500 = 25 %, discountPercent 1000 = 10 %.

// CreateOrderRequest is the body of POST /api/v1/orders.
type CreateOrderRequest struct {
	MerchantOrderNumber string        `json:"merchantOrderNumber"`
	CountryCode         string        `json:"countryCode"`
	Currency            string        `json:"currency,omitempty"`
	MobilePhoneNumber   string        `json:"mobilePhoneNumber,omitempty"`
	Tags                []string      `json:"tags,omitempty"`
	OrderItems          []OrderItem   `json:"orderItems"`
	CallbackURI         string        `json:"callbackUri,omitempty"`
	TermsURI            string        `json:"termsUri"`
	DeferredDelivery    bool          `json:"deferredDelivery"`
	MinutesUntilExpiry  int           `json:"minutesUntilLinkExpires,omitempty"`
	PresetValues        []PresetValue `json:"presetValues,omitempty"`
	// RequireElectronicIDAuthentication defaults to true (BankID) at Svea
	// when absent.
	RequireElectronicIDAuthentication *bool  `json:"requireElectronicIdAuthentication,omitempty"`
	MerchantName                      string `json:"merchantName,omitempty"`
}

// OrderItem is one order row.
type OrderItem struct {
	ArticleNumber   string `json:"articleNumber,omitempty"`
	Name            string `json:"name"`
	Quantity        int64  `json:"quantity"`
	UnitPrice       int64  `json:"unitPrice"`
	DiscountPercent int64  `json:"discountPercent"`
	DiscountAmount  int64  `json:"discountAmount,omitempty"`
	VATPercent      int64  `json:"vatPercent"`
	Unit            string `json:"unit"`
	RowNumber       int    `json:"rowNumber,omitempty"`
	MerchantData    string `json:"merchantData,omitempty"`
}

// PresetValue prefills a field of Svea's checkout. AttributeName is one of
// NationalId, EmailAddress, PostalCode, IsCompany ("true"/"false",
// required with NationalId).
type PresetValue struct {
	AttributeName string `json:"attributeName"`
	Value         string `json:"value"`
	IsReadonly    bool   `json:"isReadonly"`
}

// OrderResponse is the answer to create (with smsSentSuccessfully) and to
// GET …/status. PaymentMethodType, PaymentType, CampaignCode and
// CustomerInformation are set once the order is Completed.
type OrderResponse struct {
	MerchantOrderNumber string               `json:"merchantOrderNumber"`
	InstoreUIURI        string               `json:"instoreUiUri"`
	OrderStatus         string               `json:"orderStatus"`
	PaymentMethodType   string               `json:"paymentMethodType"`
	CampaignCode        *int64               `json:"campaignCode"`
	PaymentType         string               `json:"paymentType"`
	PaymentOrderID      *int64               `json:"paymentOrderId"`
	CustomerInformation *CustomerInformation `json:"customerInformation"`
	Tags                []string             `json:"tags"`
	OrderItems          []OrderItem          `json:"orderItems"`
	SMSSentSuccessfully *bool                `json:"smsSentSuccessfully"`
}

// CustomerInformation is who completed the checkout.
type CustomerInformation struct {
	ShippingAddress   *Address `json:"shippingAddress"`
	BillingAddress    *Address `json:"billingAddress"`
	EmailAddress      string   `json:"emailAddress"`
	MobilePhoneNumber string   `json:"mobilePhoneNumber"`
}

// Address is a checkout address.
type Address struct {
	FullName      string   `json:"fullName"`
	FirstName     string   `json:"firstName"`
	LastName      string   `json:"lastName"`
	StreetAddress string   `json:"streetAddress"`
	CoAddress     string   `json:"coAddress"`
	PostalCode    string   `json:"postalCode"`
	City          string   `json:"city"`
	CountryCode   string   `json:"countryCode"`
	IsGeneric     bool     `json:"isGeneric"`
	AddressLines  []string `json:"addressLines"`
}

// ReturnOrderRequest is the body of POST …/{merchantOrderNumber}/return:
// the rows to credit, which need not match the order's; none credits all.
type ReturnOrderRequest struct {
	ReturnedItems []OrderItem `json:"returnedItems"`
}

// Order statuses: "It can be Active, Completed or Canceled" (php-instore
// CreateOrderResponse.md). Svea's introduction also names Created and
// Delivered; no Expired value is documented.
const (
	StatusActive    = "Active"
	StatusCompleted = "Completed"
	StatusCanceled  = "Canceled"
	StatusCreated   = "Created"
	StatusDelivered = "Delivered"
)
