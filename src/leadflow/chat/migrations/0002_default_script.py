"""The chat script a new installation starts with: the BANT questions, the company and role, what the visitor
wants next; a qualified visitor is handed to sales, one with no budget yet is thanked (and nurtured once the
script names a sequence)."""

from django.db import migrations

NAME = "Qualify visitors (BANT)"
BANDS = ["1-9", "10-49", "50-199", "200-499", "500-999", "1000-1999", "2000+"]
STEPS = [
    {"id": "hello", "type": "say", "text": "Hi! I can answer a few quick questions and put you in touch with the "
     "right person.", "next": ""},
    {"id": "need", "type": "ask", "text": "What are you hoping to solve?", "answer": "text", "options": [],
     "field": "need", "next": ""},
    {"id": "email", "type": "ask", "text": "What is your work email, so we can follow up?", "answer": "email",
     "options": [], "field": "email", "next": ""},
    {"id": "has_budget", "type": "ask", "text": "Is there a budget set aside for this?", "answer": "buttons",
     "options": [{"label": "Yes, we have a budget", "value": "yes", "intent": ""},
                 {"label": "No budget yet", "value": "no", "intent": ""}], "field": "", "next": ""},
    {"id": "budget_or_not", "type": "branch",
     "rules": [{"answer": "has_budget", "test": "equals", "value": "no", "goto": "no_budget"}], "else": "budget"},
    {"id": "budget", "type": "ask", "text": "Roughly how much, in US dollars?", "answer": "number", "options": [],
     "field": "budget_amount", "next": ""},
    {"id": "budget_confirmed", "type": "set", "field": "budget_confirmed", "value": "True", "next": ""},
    {"id": "authority", "type": "ask", "text": "Who makes the decision to buy?", "answer": "buttons",
     "options": [{"label": "I do", "value": "decision_maker", "intent": ""},
                 {"label": "I recommend it to someone", "value": "influencer", "intent": ""},
                 {"label": "I would use it", "value": "user", "intent": ""}], "field": "authority", "next": ""},
    {"id": "timing", "type": "ask", "text": "By when do you need it in place?", "answer": "date", "options": [],
     "field": "timing_target_date", "next": ""},
    {"id": "job_title", "type": "ask", "text": "What is your job title?", "answer": "text", "options": [],
     "field": "job_title", "next": ""},
    {"id": "company_size", "type": "ask", "text": "How many people work at your company?", "answer": "buttons",
     "options": [{"label": band, "value": band, "intent": ""} for band in BANDS], "field": "company_size",
     "next": ""},
    {"id": "wants", "type": "ask", "text": "What would help most now?", "answer": "buttons",
     "options": [{"label": "Talk to sales", "value": "sales", "intent": ""},
                 {"label": "Book a demo", "value": "demo", "intent": "demo"},
                 {"label": "Just looking", "value": "looking", "intent": ""}], "field": "", "next": ""},
    {"id": "what_next", "type": "branch",
     "rules": [{"answer": "wants", "test": "equals", "value": "demo", "goto": "meeting"},
               {"answer": "wants", "test": "equals", "value": "looking", "goto": "looking"}], "else": "to_sales"},
    {"id": "to_sales", "type": "end", "text": "Thank you! Someone from our sales team will be in touch shortly.",
     "outcome": "handoff", "nurture": True},
    {"id": "meeting", "type": "end", "text": "Thank you! We will email you to find a time for your demo.",
     "outcome": "meeting", "nurture": False},
    {"id": "looking", "type": "end", "text": "Thanks! We will send you a few useful reads.", "outcome": "thank_you",
     "nurture": True},
    {"id": "no_budget", "type": "end", "text": "Thanks! We will keep in touch with ideas that help when the time "
     "comes.", "outcome": "thank_you", "nurture": True},
]  # fmt: skip


def add_script(apps, schema_editor):
    ChatScript = apps.get_model("chat", "ChatScript")
    if not ChatScript.objects.exists():
        ChatScript.objects.create(name=NAME, title="Questions? Chat with us", steps=STEPS)


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]
    operations = [migrations.RunPython(add_script, migrations.RunPython.noop)]
