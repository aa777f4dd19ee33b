"""The AWS Price List Query API's GetProducts, which moto 5.2.5 does not serve, answered
from testbed-data/price-list.json.

AWS Price List Query API Reference, GetProducts: ServiceCode and Filters (Type
TERM_MATCH: the product's attribute Field equals Value), FormatVersion "aws_v1",
MaxResults (1-100) and NextToken; the answer is {"FormatVersion", "PriceList": [one JSON
document per product, as a string], "NextToken"}. A product document holds
"product" {"productFamily", "attributes", "sku"} and "terms" {"OnDemand": {offer:
{"priceDimensions": {dim: {"unit", "pricePerUnit": {"USD"}, "beginRange", "endRange",
"description"}}}}}; TERM_MATCH on "productFamily" matches the product's family. The
Query API answers only at its endpoints
in us-east-1 and ap-south-1: a request signed for another region is refused here as a
wrong endpoint would be.

The data file's products are the test bed's, shaped as AWS's are, with prices that are
deliberately not AWS's (so a test can tell an answer from this API from the shipped
table's numbers). Never copy them into src/cost/prices.
"""

import json
import os

from moto_strict import aws_json_error, encode_token, decode_token, json_answer

ENDPOINT_REGIONS = {"us-east-1", "ap-south-1"}


class PriceList:
    def __init__(self, data_dir: str):
        with open(os.path.join(data_dir, "price-list.json")) as f:
            self.products = json.load(f)["products"]

    def routes(self):
        return {("pricing", "GetProducts"): self.get_products}

    def get_products(self, req, forward):
        if req.region not in ENDPOINT_REGIONS:
            return aws_json_error("UnrecognizedClientException",
                                  f"The Price List Query API has no endpoint in {req.region}")
        body = json.loads(req.body or b"{}")
        service = body.get("ServiceCode")
        if not service:
            return aws_json_error("InvalidParameterException", "ServiceCode is required")
        # A service this data file has no product of answers an empty list, as AWS does
        # for filters no product matches.
        mine = [p for p in self.products if p["serviceCode"] == service]
        filters = body.get("Filters") or []
        for f in filters:
            if f.get("Type") != "TERM_MATCH":
                return aws_json_error("InvalidParameterException", f"Unknown filter type {f.get('Type')}")

        def matches(doc):
            product = doc["product"]
            for f in filters:
                field, value = f["Field"], f["Value"]
                have = product["productFamily"] if field == "productFamily" else product["attributes"].get(field)
                if have is None or have.lower() != value.lower():
                    return False
            return True

        found = [p["document"] for p in mine if matches(p["document"])]
        size = int(body.get("MaxResults") or 100)
        if not 1 <= size <= 100:
            return aws_json_error("InvalidParameterException", "MaxResults must be between 1 and 100")
        start = decode_token(body["NextToken"])["at"] if body.get("NextToken") else 0
        page = found[start:start + size]
        out = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(d) for d in page]}
        if start + size < len(found):
            out["NextToken"] = encode_token({"at": start + size})
        return json_answer(200, out, "application/x-amz-json-1.1")
