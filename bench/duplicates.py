"""Time the duplicate scan on a generated set of contacts (100,000 by default) with planted duplicates.

Usage: .venv/bin/python bench/duplicates.py [--contacts 100000] [--seed 7] [--database-url URL]
Writes the contacts into a fresh database (a temporary SQLite file unless --database-url is given) with their match
keys, about 2% of them second records of someone already there (a nickname or typo in the name at the same company,
a Gmail address spelt another way, the same phone in another format), then times the scan and prints how many
candidate pairs it judged, how many it flagged and how many of the planted duplicates it found.
Target (issue 21): minutes, not hours, on 100k contacts.
"""

import argparse
import random
import sys
import time

from fresh_database import settle, use_fresh_database

FIRST = (
    "Ana Ben Carla David Elena Felix Grace Hugo Ines Jon Kate Liam Maya Noah Olga Paul Quinn Rosa Sam Tara Umar "
    "Vera Will Xena Yusuf Zoe Chris Katherine Michael Sofia Mateo Lucia Omar Priya Wei Aiko Lars Ingrid"
).split()
LAST = (
    "Lima Smith Garcia Müller Rossi Dubois Kowalski Novak Tanaka Kim Singh Khan Silva Jensen Hansen Berg Costa Moreau "
    "Weber Fischer Schmidt Nguyen Chen Wang Haddad Okafor Mensah Ivanova Petrov Larsen O'Brien Walsh Murphy Byrne Ryan"
).split()
NICKNAMES = {"Jon": "John", "Kate": "Katie", "Chris": "Christopher", "Michael": "Micheal", "Katherine": "Catherine",
             "Sofia": "Sophia", "Will": "William", "Sam": "Samuel"}  # fmt: skip
COUNTRIES = ["US", "GB", "DE", "FR"]
PHONES = {"US": ("212", 7), "GB": ("20", 8), "DE": ("30", 7), "FR": ("1", 8)}


def national(country: str, rng: random.Random) -> str:
    area, digits = PHONES[country]
    if country == "US":
        return f"({area}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    return "0" + area + " " + "".join(str(rng.randint(1, 9)) for _ in range(digits))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    use_fresh_database(args.database_url, prefix="leadflow-duplicates-")

    from leadflow.accounts.matching import keys_of
    from leadflow.accounts.models import Account, Contact, DuplicatePair
    from leadflow.duplicates.services import scan_for_duplicates

    rng = random.Random(args.seed)
    started = time.perf_counter()
    companies = max(1, args.contacts // 12)
    accounts = Account.objects.bulk_create(
        [Account(name=f"Company {n}", domain=f"company{n}.example", country=rng.choice(COUNTRIES))
         for n in range(companies)], batch_size=5000
    )  # fmt: skip
    contacts: list[Contact] = []
    planted: list[tuple[int, int]] = []  # positions in `contacts` of a person and their second record
    while len(contacts) < args.contacts:
        account = rng.choice(accounts)
        if contacts and rng.random() < 0.02:
            position = rng.randrange(len(contacts))
            original = contacts[position]
            twin = Contact(first_name=original.first_name, last_name=original.last_name, account=original.account,
                           email=None, phone="")  # fmt: skip
            way = rng.choice(["name", "gmail", "phone"])
            if way == "name":
                twin.first_name = NICKNAMES.get(original.first_name, original.first_name + "a")
                twin.email = f"{twin.first_name.lower()}.{len(contacts)}@{original.account.domain}"
            elif way == "gmail" and original.email and original.email.endswith("@gmail.com"):
                local = original.email.split("@")[0]
                twin.email = f"{local.replace('.', '')}+crm{len(contacts)}@googlemail.com"
            elif original.phone:
                twin.phone = "+" + original.phone_key.lstrip("+") if original.phone_key else original.phone
                twin.email = f"x{len(contacts)}@elsewhere.example"
            else:
                continue
            contacts.append(twin)
            planted.append((position, len(contacts) - 1))
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            mailbox = f"{first}.{last}.{len(contacts)}".lower().replace("'", "")
            email = f"{mailbox}@gmail.com" if rng.random() < 0.15 else f"{mailbox}@{account.domain}"
            phone = national(account.country, rng) if rng.random() < 0.6 else ""
            contacts.append(Contact(first_name=first, last_name=last, email=email, phone=phone, account=account))
        for key, value in keys_of(contacts[-1]).items():
            setattr(contacts[-1], key, value)
    Contact.objects.bulk_create(contacts, batch_size=5000)
    settle()
    print(f"wrote {len(contacts):,} contacts at {companies:,} companies ({len(planted):,} planted duplicates) "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip

    started = time.perf_counter()
    result = scan_for_duplicates()
    seconds = time.perf_counter() - started
    flagged = set(DuplicatePair.objects.values_list("first_id", "second_id"))
    found = sum(1 for a, b in planted if tuple(sorted((contacts[a].pk, contacts[b].pk))) in flagged)
    print(f"scan: {result.contacts:,} contacts, {result.compared:,} pairs of names compared "
          f"(all pairs would be {result.contacts * (result.contacts - 1) // 2:,}), {result.flagged:,} flagged "
          f"in {seconds:.1f} s")  # fmt: skip
    print(f"planted duplicates found: {found:,} of {len(planted):,}")
    started = time.perf_counter()
    again = scan_for_duplicates()
    print(f"second scan (nothing new): {again.flagged} flagged in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
