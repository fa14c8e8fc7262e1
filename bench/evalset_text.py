"""Message texts for bench/evalset.py, by series and by who the other party is.

Placeholders (filled by ``str.format``): {s} the student as the writer names them, {s2}
a second student, {slist} several students, {g} the guardian's first name, {t} the staff
member as others address them (``Ms. Marsh``), {tf} the staff member's first name,
{me} their full name, {o} a colleague (``Mr. Palmer``), {of} the colleague's first name,
{day}/{day2} weekdays, {time}/{time2} clock times, {date} a date, {subj} a class,
{place} a field-trip place, {rel} a relative's first name, {n}/{n2} small numbers,
{room} a room number, {yr} a school year, {req} a requester's name.

Chats are lists of ``"W|text"`` lines: W is ``M`` (the export's owner, a staff member),
``T`` (the other party) or ``U`` (a second other party in a group). Emails are
``(subject, body, direction)``; direction ``in`` is written by the other party to the
staff member, ``out`` by the staff member. A conversation's content decides its series:
several templates mention a student or a bus in passing on purpose.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- chats

CHAT: dict[tuple[str, str], list[list[str]]] = {
    ("STU-TEMPORARY", "guardian"): [
        ["T|Hi {t}, this is {g}. {s} said there was a quiz today in {subj}, how did it go? {s} was up late studying",
         "M|Hi {g}! {s} did fine, 14/20. The second part was tricky for a lot of kids. I'd suggest reviewing the practice sheet",
         "T|ok thank you, we will work on it this weekend"],
        ["M|Hello {g}, quick heads up: {s} has {n} missing assignments in {subj}. They're all posted on Google Classroom.",
         "T|Oh no I had no idea. Which ones?",
         "M|The lab write-up from last week, the reading log and the chapter {n2} questions.",
         "T|I'll sit with {s} tonight. Can they still hand them in?",
         "M|Yes, until {day}. After that I can only give half credit."],
        ["T|{s} was really upset after school. Said some kids were teasing at lunch. Can you keep an eye?",
         "M|I'm sorry to hear that. I'll talk to the lunch monitors and check in with {s} tomorrow morning.",
         "M|I also let the counselor know, hope that's ok",
         "T|Yes thank you so much"],
        ["T|Good evening {t}. {s} will be absent tomorrow and {day}, we have a family emergency in Brazil",
         "M|Thanks for letting me know. I'll put the work aside. Hope everything is ok.",
         "T|Thank you. Can you send what they miss?"],
        ["M|Hi {g}, I wanted to share some good news: {s} gave an amazing presentation today. Really proud of the effort this term!",
         "T|That is so nice to hear!! thank you for telling us \U0001F60A"],
        ["T|hi is {s} behind in {subj}? report said 'needs improvement' and we dont understand why",
         "M|Hi {g}, it's mostly participation and two late projects. The test scores are solid.",
         "M|Could we talk at conferences on {day}? I have a slot at {time}.",
         "T|{time} works. see you then",
         "M|Great. If {s} takes the late bus that day that's fine, we'll be done by 4."],
        ["M|{g}, {s} was sent to the office today for pushing another student in line. No one was hurt. The assistant principal will call you.",
         "T|What?? that doesnt sound like {s} at all. What happened before?",
         "M|There was an argument about a ball at recess. I'll write up what I saw. We can meet if you'd like.",
         "T|Yes please. I can come {day} after work"],
        ["T|Hello. {s} says the essay is due {day} but the rubric got left at school. Could you text a photo?",
         "M|Sure! Also {s} can come to extra help {day2} at {time} if they want feedback on the draft",
         "T|perfect, thank you"],
        ["T|{t} sorry to bother you on the weekend. {s} has been having headaches in class, did you notice anything?",
         "M|Not bothering at all. I did notice squinting at the board. Maybe the nurse could do a vision screening?",
         "T|Good idea, I'll call the nurse monday"],
        ["M|Hi, {s} fell asleep twice in class this week. Is everything alright at home?",
         "T|Thanks for telling me. New baby in the house, nobody is sleeping lol. I'll make sure bedtime is earlier",
         "M|Congratulations! Totally understandable."],
    ],
    ("STU-TEMPORARY", "guardian-pair"): [
        ["T|Hi {t}, both {s} and {s2} are home sick with the flu. They'll be out until {day} probably",
         "M|Thanks for letting me know, feel better to both! I'll collect their work",
         "T|Thank you!"],
        ["M|Hi {g}, parent conferences: would you like back to back slots for {s} and {s2}? I have {time} and {time2} on {day}.",
         "T|Yes that would be great, we have a lot to talk about with {s2}'s reading",
         "M|Booked!"],
        ["T|{t} can I ask how {s} and {s2} are doing? At home they fight about homework every night",
         "M|Honestly both are doing well in class. {s} could speak up more, {s2} rushes through work. Happy to meet"],
    ],
    ("STU-TEMPORARY", "student"): [
        ["T|hi {t} i was absent yesterday what did i miss",
         "M|Hi {s}, we started chapter {n}. Read pages 40-52 and do the vocab sheet. Come see me at lunch if you have questions",
         "T|ok thanks"],
        ["T|Can I retake the test? I had a really bad week",
         "M|{s}, yes. Retakes are {day} after school in room {room}. Study the review packet first.",
         "T|thank you so much"],
        ["M|{s}, your project is still missing. Can you get it to me by {day}?",
         "T|sorry!! my printer broke, I can email it tonight",
         "M|Email is fine"],
        ["T|hi {t} can u look at my essay draft before friday? i shared it on google docs",
         "M|Sure, I'll leave comments tonight. Your intro needs a clearer thesis, otherwise it's coming along well",
         "T|thank you!!"],
        ["T|I'm really stressed about the history project, I don't think I can finish it",
         "M|Let's make a plan. Come to room {room} at lunch tomorrow and we'll break it into steps. You can have until {day}.",
         "T|ok. thank you for understanding"],
        ["T|hey coach I think I failed the math test, am I still allowed to play saturday",
         "M|{s}, let's talk Monday. Eligibility depends on your grade at the end of the quarter, one test won't decide it. Go to extra help.",
         "T|ok will do"],
    ],
    ("STU-TEMPORARY", "staff"): [
        ["M|Hey {of}, have you noticed {s} seems really withdrawn lately? Barely talks in my class",
         "T|Yes, same in mine. I think something's going on at home. I'll loop in the counselor",
         "M|Thanks. I'll keep notes on what I see"],
        ["T|Do you have {s} in {subj}? Missing like half the homework for me",
         "M|I do, and it's the same. Want to do a joint call home?",
         "T|Let's do it {day} during our prep period"],
        ["M|{s} came to see me today, upset about the grade on the lab. I told them to talk to you. Just FYI",
         "T|Thanks for the heads-up, I'll check in tomorrow",
         "M|👍"],
        ["T|Counseling check-in with {s} went ok. Anxiety about the move is the big thing. I'll see them weekly for now",
         "M|Thanks {of}. Anything I should do differently in class?",
         "T|Seat near the door, let them step out if needed. No big deal about it in front of others"],
    ],
    ("STU-SPED", "guardian"): [
        ["M|Hi {g}, this is {me}. We'd like to schedule {s}'s annual IEP meeting. Would {day} at {time} work?",
         "T|{day} is hard, could we do the following week?",
         "M|Sure, how about {day2} at {time2}? The speech therapist and {o} will be there too",
         "T|That works. Should we bring anything?",
         "M|Just any questions you have, and the outside eval if you have a copy"],
        ["T|Hi {t}, I got the evaluation consent form for {s}. What does the testing involve?",
         "M|Good question! It's a psych-ed evaluation plus an academic assessment, about 3-4 sessions during the school day. Results in 45 school days.",
         "T|ok I signed it, sending back with {s} tomorrow"],
        ["T|Are {s}'s accommodations being followed in {subj}? Extended time wasn't given on the last test",
         "M|I'm sorry, that shouldn't happen. I'll remind the teacher today. {s} can retake with the extended time.",
         "T|Thank you. It's in the IEP for a reason"],
        ["M|{g}, the team meeting notes for {s} are ready. The team agreed to add small-group reading 3x a week.",
         "T|Great, thank you. And the progress report on the goals?",
         "M|Comes out with report cards. I'll send a copy home."],
    ],
    ("STU-SPED", "staff"): [
        ["T|Can you move {s}'s team meeting? The OT can't make {day}",
         "M|Let me check the room. Is {day2} at {time} ok for the OT?",
         "T|Yes. I'll tell mom and send the updated N1"],
        ["M|Quick q on {s}'s 504 vs IEP - did the eval come back?",
         "T|Psych report came back yesterday. Scores support a specific learning disability in reading. Team meeting to determine eligibility next week",
         "M|Ok, I'll bring work samples"],
    ],
    ("STU-TRANSCRIPT", "guardian"): [
        ["T|Hi {t}, the report card says {s} got a C in {subj} but the portal showed a B+. Which is right?",
         "M|Hi {g}, let me check. There was an error in the gradebook export - the correct final grade is B+. I'm submitting a grade change today.",
         "T|Thank you! Will the transcript be fixed too?",
         "M|Yes, the registrar updates it once the change is approved"],
        ["T|Do you know how many credits {s} has? We want to make sure summer school is enough",
         "M|{s} has {cr} credits, needs 24 to graduate. Passing English 10 in summer school gets them back on track."],
        ["T|Hello, we're applying to a private school and they need {s}'s official transcript and last report card. Who do I ask?",
         "M|The guidance office sends those. I'll forward your request to the registrar - it takes about a week"],
    ],
    ("STU-TRANSCRIPT", "student"): [
        ["T|hi, is my final grade in {subj} posted yet? I need it for the NHS application",
         "M|Hi {s}, yes: A- for the year. It'll be on your transcript by next week",
         "T|yay thank you!"],
        ["T|did the grade change for my lab go through? portal still says C",
         "M|I submitted it Friday, the registrar has to approve. Should show B- on the transcript this week",
         "T|ok thanks"],
        ["T|Ms can you send my transcript to the college? They said it didnt arrive",
         "M|{s}, I'll ask the registrar to resend it today. Which college?",
         "T|UMass Amherst"],
    ],
    ("CORR-TRANSITORY", "guardian"): [
        ["T|Is the bus for the {place} trip still leaving at {time}?",
         "M|Yes! Please have {s} at school by {time2}. Bring a bag lunch",
         "T|ok 👍"],
        ["M|Reminder: permission slips for {place} are due {day}. Still missing {s}'s",
         "T|Oops, it's in the backpack. Will send tomorrow",
         "M|Thanks!"],
        ["T|early release tomorrow?", "M|Yes, dismissal at 12:15. Buses run 2 hours early", "T|thx"],
        ["T|{t} the bus didn't come this morning, is route {n} cancelled?",
         "M|Sorry about that! Driver shortage. Route {n} is running about 30 min late today, should be back to normal tomorrow.",
         "T|Ok I drove {s} in"],
        ["M|Hi {g}! Picture day got moved to {day} because of the snow day",
         "T|Good to know, thanks"],
        ["T|Hi, I'm one of the chaperones for {place}. What time should I be there and where do I park?",
         "M|Hi {g}! Thank you for volunteering. Please be at the front office at {time}. Park in the back lot by the gym.",
         "T|Perfect. {s} is so excited lol",
         "M|Ha, the whole class is. See you {day}!"],
        ["T|can {s} stay after for the play rehearsal today? I'll pick up at 5",
         "M|Of course, rehearsal ends at 4:45"],
    ],
    ("CORR-TRANSITORY", "guardian-pair"): [
        ["T|Hi {t}, I'll be picking up {s} and {s2} early on {day} at {time} for a dentist appt",
         "M|Thanks, I'll let the office know",
         "T|👍"],
        ["M|Reminder for the concert {day}: students arrive by {time} in black and white. That's for both {s} and {s2}!",
         "T|Thanks, they'll be there"],
    ],
    ("CORR-TRANSITORY", "student"): [
        ["T|coach is practice still on today? its raining",
         "M|Moved to the gym, 3:30. Bring sneakers not cleats",
         "T|ok"],
        ["T|what time do we leave for the meet on saturday",
         "M|Bus leaves at {time} from the back lot. Don't be late {s}!"],
        ["M|{s}, can you remind the team we're meeting in room {room} instead of the library tomorrow?",
         "T|yep will do"],
    ],
    ("CORR-TRANSITORY", "group"): [
        ["M|Hi everyone! Final details for {place} on {day}: bus leaves at {time}, back around 2:30. Bag lunch, no glass bottles, comfy shoes.",
         "T|Thanks! Is there a place to buy snacks there?",
         "M|There's a small cafe, but kids should bring a couple dollars max",
         "U|{s2} gets carsick, can they sit up front?",
         "M|Sure, I'll seat {s2} near the front. And {s} and {s3} are in my group, I'll text their parents if anything changes"],
        ["M|Team: practice moved to {time} tomorrow because of the PSATs. {s}, {s2} and {s3}, you need a ride from the high school, I'll drive",
         "T|thanks coach",
         "U|👍"],
        ["M|Reminder: the robotics competition is {day}. Arrive {time}, wear the team shirt.",
         "T|Can {s} get a ride with us? We have room for one more",
         "U|That would be great, thank you!! {s} will be ready at 7",
         "M|Great, so the carpool is you with {s} and {s2}. See everyone there"],
    ],
    ("CORR-TRANSITORY", "staff"): [
        ["T|Can you cover my bus duty {day}? I have a dentist appt",
         "M|Sure, I'll swap you for {day2}",
         "T|You're the best"],
        ["M|Heads up: the buses for the {place} trip are booked for {time}, not {time2}. Tell your homeroom",
         "T|Got it, thanks"],
        ["T|Fire drill at 10:15 tomorrow, don't schedule tests 3rd period",
         "M|Thanks for the warning!"],
        ["M|Is the faculty meeting still {day}? My calendar says cancelled",
         "T|Moved to {day2}, same time. The email went out this morning"],
    ],
    ("CORR-ADMIN", "staff"): [
        ["T|Did you see the new budget numbers? Our department lost 2 sections for next year",
         "M|Yes. I'm going to raise it at the faculty meeting. We can't run AP with 32 kids per class",
         "T|Agreed. Let's put together the enrollment numbers first",
         "M|I'll pull them from last three years tonight"],
        ["M|The curriculum committee wants the new {subj} units drafted by {date}. Can you take unit 3?",
         "T|Sure, as long as I get the planning time. Who's doing assessments?",
         "M|{of} volunteered. I'll share the doc"],
        ["T|The heat is broken again in room {room}. Facilities ticket #4471 has been open 2 weeks",
         "M|Ugh. I'll escalate to the principal. Can your classes use the library tomorrow?",
         "T|I'll ask. Thanks"],
        ["M|Textbook order for next year: do we want the 2024 edition or stay with the old one?",
         "T|New edition please, the old ones are falling apart. Quote was about $8,400 for 120 copies",
         "M|Ok I'll put it in the budget request"],
    ],
    ("PERSONNEL", "staff"): [
        ["M|Hi {of}, as union rep can you sit in my meeting with the principal {day}? It's about my evaluation",
         "T|Of course. Bring your self-assessment and the observation notes. You have the right to respond in writing",
         "M|Thank you, I'm pretty nervous about it"],
        ["T|Just confirming your FMLA paperwork went through HR, leave starts {date}",
         "M|Thank you so much. Who's covering my classes?",
         "T|A long-term sub, we're interviewing this week"],
        ["M|Did HR ever answer about the step increase on my contract? It's still the old salary on my stub",
         "T|I asked twice. If nothing by Friday file a grievance, the deadline is 30 days"],
    ],
    ("NON-RECORD", "personal"): [
        ["T|Are you coming to mom's on Sunday? {rel} wants to show you the new puppy",
         "M|Yes!! What should I bring?",
         "T|Dessert. and dont be late this time 😂",
         "M|lol no promises"],
        ["M|Happy birthday {rel}!! 🎂 Have the best day",
         "T|Thank you auntie!! Love you",
         "M|Love you too, see you at the party"],
        ["T|did you see the game last night",
         "M|Unbelievable. That last minute goal!",
         "T|we need to get tickets for the next home game",
         "M|I'm in, check prices"],
        ["T|Can you pick up {rel} from soccer at 5? I'm stuck at work",
         "M|Yes no problem",
         "T|You're a lifesaver"],
        ["M|Dinner Friday? Thai place on Main St?",
         "T|Yes please I need a night out",
         "M|7:30, I'll book it"],
        ["T|Hey it's {rel}! Can you help me with my science fair project this weekend? Mom said to ask you",
         "M|Of course sweetie! What's it about?",
         "T|volcanoes 🌋",
         "M|Classic. Saturday morning?"],
        ["T|Your package came to my house again lol",
         "M|Sorry!! The address thing is still messed up. I'll come by tonight"],
        ["M|How's dad doing after the surgery?",
         "T|Much better, walking a bit. He says hi",
         "M|Tell him I'll visit Saturday"],
        ["T|Book club is at Jen's this month, we're reading the new Ann Patchett",
         "M|Haven't started it yet 😬 I'll skim",
         "T|haha classic"],
        ["T|{rel} got into the travel team!!",
         "M|That's amazing, tell {rel} I'm so proud! 🎉"],
    ],
}

# ----------------------------------------------------------------------------- emails

EMAIL: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("STU-TEMPORARY", "guardian"): [
        ("{s}'s progress in {subj}",
         "{hi}\n\nI wanted to check in about {s}. The last two quizzes were below 70 and the homework completion has dropped since October. "
         "I think a lot of it is organization: assignments are started in class but not finished at home.\n\n"
         "Would you be open to a short call this week? I'm free {day} after {time}.\n\n{bye}", "out"),
        ("Absence", "{hi}\n\n{s} will not be in school on {day}, we have a doctor's appointment in Boston. Please excuse the absence.\n\n{bye}", "in"),
        ("missing work", "{hi}\n\nhi, {s} told me there's some missing work in your class? can you tell me what it is so we can get it done. thanks\n\n{bye}", "in"),
        ("Parent-teacher conference follow up",
         "{hi}\n\nThank you for meeting with me on {day}. As we discussed, {s} will:\n- come to extra help on Tuesdays\n- use the planner every day\n- check the portal with you on Sunday nights\n\n"
         "I'll touch base again in three weeks to see how it's going. {s} has a lot of potential and I'm confident we'll see improvement.\n\n{bye}", "out"),
        ("Incident today",
         "{hi}\n\nI'm writing to let you know about an incident at lunch today. {s} and another student got into an argument that turned physical. "
         "Nobody was hurt. Both students met with the assistant principal and {s} will serve one day of in-school suspension on {day}.\n\n"
         "Please call the main office if you have any questions.\n\n{bye}", "out"),
        ("Re: {s} and reading",
         "{hi}\n\nThank you for the update. We have noticed {s} reads a lot more at home since the library visit, which is great. "
         "But {s} still says the class novel is boring and hard. Is there another book they could read? Thank you for all you do.\n\n{bye}", "in"),
        ("Great week!", "{hi}\n\nJust a quick note to say {s} had a great week - helped a classmate with the lab and asked excellent questions. Please pass on my congratulations!\n\n{bye}", "out"),
        ("Concern about {s}",
         "{hi}\n\nI'm reaching out because {s} has seemed anxious and tearful in class the past couple of weeks. "
         "I've referred {s} to our school counselor, who may reach out to you. If there's anything going on that you'd like me to know, I'm here to help.\n\n"
         "(Also - the late bus is running again starting Monday, in case that helps with after-school help.)\n\n{bye}", "out"),
        ("Tardies", "{hi}\n\n{s} has been late to first period {n} times this month. After 5 tardies the school policy is a detention. Could you help us with this?\n\n{bye}", "out"),
        ("question about grade on essay",
         "{hi}\n\nMy child {s} got a 62 on the persuasive essay and was very upset. We read the comments but don't understand the grade for 'evidence', {s} had three quotes. Could you explain? We want to understand how to help.\n\n{bye}", "in"),
    ],
    ("STU-TEMPORARY", "guardian-pair"): [
        ("{s} and {s2}", "{hi}\n\nBoth kids will be out next week for a family trip (we know, not ideal). Could you send the work for {s} and for {s2} ahead of time so they don't fall behind?\n\n{bye}", "in"),
        ("Conference times", "{hi}\n\nI have you down for back-to-back conferences on {day}: {s} at {time} and {s2} at {time2}. I'll share both progress reports then.\n\n{bye}", "out"),
    ],
    ("STU-TEMPORARY", "staff"): [
        ("Student concern: {s}", "Hi {of},\n\nSharing a concern about {s} in my {subj} class: three missing assignments, head down most of the period, and a comment today about not wanting to come to school. "
         "Could you check in with them? I've called home once without an answer.\n\nThanks,\n{tf}", "out"),
        ("Re: {s} - check in", "Hi {tf},\n\nI met with {s} today. There's a lot going on with the family right now. I'll see {s} weekly. Please let me know if anything changes in class.\n\n{of}", "in"),
        ("Behavior referral", "{s} was removed from class today after repeated disruption (throwing objects, refusing to move seats). Parent contacted by phone. Referral entered in the SIS.\n\n{tf}", "out"),
    ],
    ("STU-SPED", "guardian"): [
        ("IEP meeting for {s}", "{hi}\n\nIt's time for {s}'s annual IEP review. I'd like to propose {day}, {date} at {time} in the conference room. "
         "The team will include the special education teacher, the general education teacher and the speech-language pathologist.\n\n"
         "Please let me know if this time works, or suggest another.\n\n{bye}", "out"),
        ("Evaluation results", "{hi}\n\nThe three-year re-evaluation for {s} is complete. I've attached a summary. We'll go over the full reports at the team meeting; you're entitled to receive them two days before.\n\n{bye}", "out"),
        ("Accommodations not followed", "{hi}\n\n{s}'s IEP says extended time (1.5x) and a separate setting for tests. On {day} {s} took the unit test in class with everyone else and ran out of time. "
         "I'd like to know how this will be fixed.\n\n{bye}", "in"),
        ("request for evaluation", "{hi}\n\nI am writing to formally request a special education evaluation for my child {s}. {s} struggles a lot with reading and writing and we're worried. Thank you.\n\n{bye}", "in"),
        ("Team meeting notes", "{hi}\n\nFollowing today's team meeting: the team proposes adding 30 minutes of pull-out reading support daily and a check-in/check-out plan. The amended IEP will be sent home for signature.\n\n{bye}", "out"),
    ],
    ("STU-SPED", "staff"): [
        ("{s} - IEP progress report", "Hi {of},\n\nCan you send me your progress notes on {s}'s IEP goals (written expression and organization) by {day}? Reports go home with the report cards.\n\nThanks!\n{tf}", "out"),
        ("Re: eligibility meeting", "{tf},\n\nI reviewed the psych eval for {s}. The processing speed score is low but the reading scores are in the average range. Let's discuss at the eligibility meeting {day}.\n\n{of}", "in"),
    ],
    ("STU-TRANSCRIPT", "guardian"): [
        ("Transcript request", "{hi}\n\nCould you please send an official transcript for {s} to the admissions office of Boston Latin Academy? The address is on the attached form.\n\n{bye}", "in"),
        ("Grade change", "{hi}\n\nAfter reviewing the late work {s} submitted, I've changed the Quarter 2 grade in {subj} from a C+ to a B-. The change will show on the report card and on the transcript.\n\n{bye}", "out"),
        ("credits question", "{hi}\n\nCan you tell me how many credits {s} has earned so far and whether Chemistry counts as a lab science for graduation? thanks\n\n{bye}", "in"),
        ("Report card correction", "{hi}\n\nThere's an error on {s}'s report card: the final grade for {subj} is listed as 'F' but it should be 'INC' until the make-up exam. We've corrected it in the SIS and a new report card will be mailed.\n\n{bye}", "out"),
    ],
    ("STU-TRANSCRIPT", "staff"): [
        ("Grade change form - {s}", "Hi {of},\n\nAttached is the grade change form for {s}, {subj}, semester 1: from 68 (D+) to 74 (C) after the make-up exam. Please process for the transcript.\n\n{tf}", "out"),
        ("Re: final grades", "{tf},\n\n{s}'s final grade in {subj} is still missing in the gradebook, so the transcript can't be finalized. Can you enter it today?\n\n{of}", "in"),
    ],
    ("CORR-TRANSITORY", "guardian"): [
        ("Field trip Friday", "{hi}\n\nA quick reminder that our trip to {place} is on {day}. The bus leaves at {time}. Please send {s} with a bag lunch and a water bottle.\n\n{bye}", "out"),
        ("bus", "{hi}\n\nIs the bus still coming at the regular time tomorrow with the delayed opening? {s} usually gets picked up at {time}.\n\n{bye}", "in"),
        ("Permission slip", "{hi}\n\nI'm still missing the permission slip for {s} for the {place} trip. Could you send it back by {day}? Thanks!\n\n{bye}", "out"),
        ("Pick up", "{hi}\n\nMy sister will pick up {s} today at dismissal, her name is Carla. Thank you.\n\n{bye}", "in"),
        ("Schedule change", "{hi}\n\nFYI, {subj} will meet in room {room} instead of the usual room for the rest of the week while the floors are redone. {s} knows.\n\n{bye}", "out"),
    ],
    ("CORR-TRANSITORY", "guardian-pair"): [
        ("early pick up", "{hi}\n\nI'll be picking up {s} and {s2} at {time} on {day} for a family event. Please let them know.\n\n{bye}", "in"),
    ],
    ("CORR-TRANSITORY", "group"): [
        ("Chaperone info for {place}", "{hi}\n\nThanks for volunteering to chaperone! Your groups: {s} and {s2} with you, {s3} with the other parent. Meet in the front lobby at {time}. Lunch is at noon at the picnic area.\n\n{bye}", "out"),
    ],
    ("CORR-TRANSITORY", "staff"): [
        ("Bus schedule change", "Hi all,\n\nStarting {day}, route {n} will pick up 10 minutes earlier ({time}). Please share with your homerooms.\n\n{tf}", "out"),
        ("Room change tomorrow", "{of},\n\nThe assembly moved to the gym, so 3rd period is shortened. I'll keep my class until the bell.\n\n{tf}", "out"),
        ("Re: duty coverage", "No problem, I'll take your lunch duty {day}. You owe me a coffee :)\n\n{of}", "in"),
    ],
    ("CORR-ADMIN", "staff"): [
        ("Faculty meeting agenda", "Hi everyone,\n\nAgenda for {day}'s faculty meeting:\n1. MCAS schedule\n2. New attendance procedures\n3. Budget update for FY{fy}\n4. PD day planning\n\nPlease come with questions. Room {room}, 2:45.\n\n{tf}", "out"),
        ("Budget request {subj}", "{of},\n\nAttached is our department's budget request. The main items are the lab consumables ($3,200) and replacing 15 Chromebooks. We cut the field trip line by 20% as asked.\n\n{tf}", "out"),
        ("Curriculum review", "Hi {tf},\n\nThe curriculum committee will meet on {day} to review the new {subj} units. Please bring the pacing guides and any feedback from your team.\n\nThanks,\n{of}", "in"),
        ("Leak in room {room}", "Hi,\n\nThere's water coming through the ceiling tiles in room {room} again, right over the computers. Can facilities please take a look today?\n\n{tf}", "out"),
        ("Professional development day", "Colleagues,\n\nThe PD day on {date} will focus on literacy across the content areas. Morning sessions are in the library; afternoon is department time.\n\n{of}", "in"),
        ("Re: safety plan", "{tf},\n\nThe revised emergency plan was approved by the school committee. Please review the new reunification site and sign the acknowledgment by {day}.\n\n{of}", "in"),
    ],
    ("PUBLIC-RECORDS-REQUEST", "requester"): [
        ("Public records request", "To the Records Access Officer:\n\nUnder the Massachusetts Public Records Law, M.G.L. c. 66, § 10, I request copies of all contracts between the district and bus transportation vendors for fiscal years 2022 and 2023.\n\n"
         "I would prefer electronic copies. If there are fees over $10 please tell me first.\n\nSincerely,\n{req}", "in"),
        ("Records request - school committee emails", "Hello,\n\nPursuant to G.L. c. 66 §10, please provide all emails between school committee members and the superintendent containing the word 'redistricting' from {date} to today.\n\nThank you,\n{req}", "in"),
        ("Re: Public records request", "Dear {req},\n\nThe district received your public records request on {date}. We will provide the responsive records within 10 business days. "
         "Some records may be redacted under exemption (c) of G.L. c. 4, §7(26).\n\nSincerely,\n{me}\nRecords Access Officer", "out"),
        ("request under public records law", "hi, I'm a reporter with the Springfield Gazette. Under the public records law I'm asking for the district's spending on consultants in 2023, including invoices. thanks\n\n{req}", "in"),
        ("Response to your request", "Dear {req},\n\nAttached please find the records responsive to your request. Personal information has been redacted. You may appeal this response to the Supervisor of Records within 90 days.\n\n{me}", "out"),
        ("Extension - records request", "Dear {req},\n\nDue to the volume of records, the district needs additional time to respond to your request and will petition the Supervisor of Records for an extension of up to 30 business days.\n\n{me}", "out"),
    ],
    ("PERSONNEL", "hr"): [
        ("Leave of absence request", "Dear {of},\n\nI would like to request a medical leave of absence beginning {date}, expected to last about 8 weeks. My doctor's note is attached.\n\nThank you,\n{me}", "out"),
        ("Your evaluation", "Dear {tf},\n\nYour summative evaluation is complete and has been uploaded. You have the right to respond in writing within 10 days. Please sign to acknowledge receipt.\n\n{of}", "in"),
        ("Contract renewal", "{tf},\n\nI'm pleased to confirm your contract for the {yr} school year at Step {n}, Masters column. Please sign and return by {date}.\n\n{of}\nHuman Resources", "in"),
        ("Grievance", "{of},\n\nOn behalf of the association, I am filing a Step 1 grievance regarding the denial of my personal day on {date}, which violates Article 14 of the contract.\n\n{me}", "out"),
        ("Re: maternity leave", "Hi {tf},\n\nYour leave paperwork is in order. Your leave will run from {date} and you'll return in September. Benefits continue during the leave.\n\n{of}", "in"),
        ("resignation", "Dear {of},\n\nPlease accept this letter as notice of my resignation, effective at the end of the school year. Thank you for the opportunities.\n\n{me}", "out"),
    ],
    ("NON-RECORD", "personal"): [
        ("Dinner Sunday?", "Hey,\n\nAre we still on for dinner at mom's on Sunday? {rel} wants to show everyone the new puppy. Bring dessert!\n\nxo", "in"),
        ("Re: vacation photos", "These are amazing!! {rel} looks so grown up. Let's plan the Cape again next summer.\n\n", "in"),
        ("Wedding RSVP", "Hi!\n\nJust sent the RSVP card but wanted to say we'll definitely be there. Can't wait to celebrate.\n\nLove,\n{tf}", "out"),
        ("book club", "Next book club is at my place on the 12th. We're reading the new Ann Patchett. Bring wine :)\n\n", "in"),
        ("{rel}'s birthday", "Hi,\n\n{rel}'s party is Saturday at 2 at the trampoline park. Let me know if you can make it!\n\n", "in"),
    ],
}

# Forwarding notes: the note is filing, the original decides the record.
FORWARD_NOTES = [
    "FYI for {s}'s file.",
    "Forwarding for the records.",
    "See below - please add to the student file.",
    "Fwd per the social media policy (from my personal account).",
    "please file, thanks",
    "",
]

GREETINGS_TO_STAFF = ["Hi {t},", "Dear {t},", "Good morning {t},", "Hello,", "Hi,", "{t},"]
GREETINGS_TO_GUARDIAN = ["Dear {g},", "Hi {g},", "Hello {g},", "Good afternoon,", "Dear family,"]
SIGNOFFS_STAFF = ["Best,\n{me}", "Thank you,\n{t}", "{tf}", "Thanks!\n{me}\n{role}", "Sincerely,\n{me}"]
SIGNOFFS_GUARDIAN = ["Thank you,\n{gfull}", "Thanks,\n{g}", "{gfull}", "Best regards,\n{gfull}", "thx\n{g}"]

SUBJECTS = ["math", "science", "English", "social studies", "Spanish", "ELA", "history", "chemistry", "biology", "art"]
PLACES = ["the Museum of Science", "the New England Aquarium", "Plimoth Patuxet", "Old Sturbridge Village", "the State House", "Drumlin Farm", "the Boston Tea Party Museum"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
TIMES = ["7:45", "8:15", "8:30", "9:00", "10:40", "12:30", "1:15", "2:10", "3:00", "3:30", "4:15"]
REQUESTERS = ["Dana Whitfield", "Marcus Bell", "Jordan Alvarez", "Priscilla Huang", "Tom Brennan", "Leslie Carver"]
