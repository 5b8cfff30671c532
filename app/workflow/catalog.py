"""The default checkpoint catalogue (离校点), seeded by the first migration.

Lane names in a BPMN diagram must be a checkpoint's Chinese name or its key.
Admins may edit place, phone, hours and instructions; keys stay stable.
"""
from __future__ import annotations

# key, name (zh), name (en), department, place, phone, office hours, instructions
DEFAULT_CHECKPOINTS: list[tuple[str, str, str, str, str, str, str, str]] = [
    ("advisor", "导师", "Advisor", "研究生导师", "导师办公室", "", "工作日",
     "联系导师登录离校系统进行毕业条件审核；该环节是研究生其他离校手续的前置环节。"),
    ("college", "学院离校点", "College office", "各学院学工办", "学院办公楼 101", "0731-58290001",
     "工作日 8:30–11:30, 14:30–17:30", "党员领取组织关系介绍信；团员转出团组织关系；归还借用的教学仪器；确认国家助学贷款还款手续。"),
    ("library", "图书馆", "Library", "图书馆流通部", "图书馆一楼总服务台", "0731-58290002",
     "每天 8:00–21:30", "归还所借图书并缴清欠费；研究生需提交学位论文。借阅册数和欠费都为 0 时系统自动通过。"),
    ("student_affairs", "学生工作处", "Student affairs office", "学生工作处", "行政楼 203", "0731-58290003",
     "工作日 8:30–11:30, 14:30–17:30", "学生证交班级负责人统一上交；办理生源地助学贷款还款确认。"),
    ("utilities", "水电通信中心", "Utilities centre", "后勤保障处水电通信中心", "后勤服务楼 105", "0731-58290004",
     "工作日 8:00–12:00, 14:30–17:30", "按寝室缴清电费，由寝室代表统一办理。"),
    ("dormitory", "宿管中心", "Dormitory management", "学生公寓管理中心", "各楼栋值班室", "0731-58290005",
     "每天 8:00–22:00", "清理宿舍用品，交还钥匙，按寝室办理退宿。未在校住宿的同学单独办理。"),
    ("network", "网络信息中心", "Network centre", "网络信息中心", "信息楼 110", "0731-58290006",
     "工作日 8:30–17:30", "归还借用的交换机。"),
    ("finance", "财务处", "Finance office", "计划财务处", "行政楼一楼收费大厅", "0731-58290007",
     "工作日 8:30–11:30, 14:30–17:00", "缴清学杂费和财务借款。欠费为 0 时系统自动通过；确有困难可到缓交办理点申请缓交。"),
    ("lab_equipment", "实验室与设备管理处", "Laboratory and equipment office", "实验室与设备管理处设备科",
     "实验楼 302", "027-67880008", "工作日 8:30–17:00", "归还借用的实验设备。"),
    ("state_key_lab", "国家重点实验室", "State key laboratory", "国家重点实验室办公室", "科研楼 501",
     "027-67880009", "工作日 8:30–17:00", "结清测试费。"),
    ("hospital", "校医院", "University hospital", "校医院", "校医院一楼收费处", "027-67880010",
     "每天 8:00–17:00", "结清住院费用。"),
    ("employment", "学生就业创业指导处", "Career guidance office", "学生就业创业指导处", "学生活动中心 208",
     "027-67880011", "工作日 8:30–17:00", "在就业信息网填报就业方案并经审核无误。"),
    ("college_student_work", "培养单位学生工作组", "College student-work group", "各培养单位学生工作组",
     "各学院办公室", "", "工作日", "提交毕业生登记表并完成鉴定，完成团组织关系转接。"),
    ("graduate_secretary", "培养单位研究生秘书", "College graduate secretary", "各培养单位研究生秘书",
     "各学院研究生秘书办公室", "", "工作日", "提交归档的答辩纸质材料以及入学登记表。"),
    ("certificates", "学院证件发放", "Certificate desk (college)", "各学院", "学院办公楼 101", "0731-58290001",
     "工作日 8:30–11:30, 14:30–17:30", "完成全部离校手续后领取毕业证、学位证、报到证（三证）和户口迁移证明。"),
    ("academic_affairs", "教务处", "Academic affairs office", "教务处", "行政楼 305", "0731-58290012",
     "工作日 8:30–11:30, 14:30–17:30", "暂缓发放两证的毕业生，清理相关事项后到教务处领取。"),
    ("graduate_school", "研究生院", "Graduate school", "研究生院学位办", "行政楼 401", "027-67880013",
     "工作日 8:30–17:00", "完成全部离校手续后领取毕业证和学位证。"),
    ("waiver", "缓交办理点", "Deferred-payment desk (缓交)", "学生工作处", "行政楼 203", "0731-58290003",
     "工作日 8:30–11:30, 14:30–17:30", "凭缓交证明办理欠费缓交，解除欠费对领取证件的限制。"),
]

# English place, office hours and instructions of the catalogue checkpoints, for English pages:
# key -> (place, office hours, instructions); stored in Checkpoint.place_en / office_hours_en /
# instructions_en (migration 0005 fills them in existing databases).
DEFAULT_CHECKPOINTS_EN: dict[str, tuple[str, str, str]] = {
    "advisor": ("Your advisor's office", "Working days",
                "Ask your advisor to log in to the clearance system and review your graduation requirements; "
                "this step comes before every other clearance item for postgraduates."),
    "college": ("College office building, room 101", "Working days 8:30–11:30, 14:30–17:30",
                "Party members collect the Party membership transfer letter; League members transfer their "
                "League membership; return borrowed teaching instruments; confirm national student loan repayment."),
    "library": ("Library, ground-floor service desk", "Daily 8:00–21:30",
                "Return borrowed books and pay any fines; postgraduates deposit their thesis. The item passes "
                "automatically when you have no books on loan and no fines."),
    "student_affairs": ("Administration building, room 203", "Working days 8:30–11:30, 14:30–17:30",
                        "Student ID cards are handed in by each class's representative; confirm the repayment "
                        "of origin-place student loans."),
    "utilities": ("Logistics service building, room 105", "Working days 8:00–12:00, 14:30–17:30",
                  "Settle the electricity bill per dormitory room; the room representative does it for all."),
    "dormitory": ("The duty room of each dormitory building", "Daily 8:00–22:00",
                  "Clear out your belongings, return the keys and check out room by room. Graduates who did "
                  "not live on campus come individually."),
    "network": ("Information building, room 110", "Working days 8:30–17:30", "Return borrowed network switches."),
    "finance": ("Administration building, ground-floor payment hall", "Working days 8:30–11:30, 14:30–17:00",
                "Pay outstanding tuition and fees and settle finance loans. The item passes automatically when "
                "nothing is owed; if you cannot pay yet, apply for a deferral at the deferred-payment desk."),
    "lab_equipment": ("Laboratory building, room 302", "Working days 8:30–17:00", "Return borrowed laboratory equipment."),
    "state_key_lab": ("Research building, room 501", "Working days 8:30–17:00", "Settle testing fees."),
    "hospital": ("University hospital, ground-floor cashier", "Daily 8:00–17:00", "Settle hospital fees."),
    "employment": ("Student activity centre, room 208", "Working days 8:30–17:00",
                   "Submit your employment plan on the careers website and have it checked."),
    "college_student_work": ("Your college's office", "Working days",
                             "Hand in the graduate registration form and complete the appraisal; transfer your "
                             "League membership."),
    "graduate_secretary": ("Your college's graduate secretary's office", "Working days",
                           "Hand in the printed defence documents for the archive and your enrolment registration form."),
    "certificates": ("College office building, room 101", "Working days 8:30–11:30, 14:30–17:30",
                     "When every clearance item is done, collect your graduation certificate, degree certificate, "
                     "employment registration card and household-registration transfer certificate."),
    "academic_affairs": ("Administration building, room 305", "Working days 8:30–11:30, 14:30–17:30",
                         "Graduates whose two certificates were withheld collect them here once the matter is settled."),
    "graduate_school": ("Administration building, room 401", "Working days 8:30–17:00",
                        "When every clearance item is done, collect your graduation and degree certificates."),
    "waiver": ("Administration building, room 203", "Working days 8:30–11:30, 14:30–17:30",
               "With a deferral certificate, arrange a deferred payment: the unpaid amount then no longer "
               "keeps you from collecting your certificates."),
}

# Checkpoints that never own user tasks (special desks).
SPECIAL_CHECKPOINTS = frozenset({"waiver"})

# Suggested rejection reasons (驳回原因模板) per checkpoint key, used while a checkpoint has none of
# its own in `reason_templates`: (Chinese, English). A `{…}` part is a blank the operator fills in.
DEFAULT_REASONS: dict[str, list[tuple[str, str]]] = {
    "advisor": [("未满足毕业条件：{原因}", "Graduation requirements not met: {reason}"),
                ("学位论文尚未定稿", "The thesis is not finalised yet")],
    "college": [("未领取党组织关系介绍信", "Party membership transfer letter not collected"),
                ("团组织关系未转出", "League membership not transferred"),
                ("未归还教学仪器：{仪器名称}", "Teaching instrument not returned: {instrument}"),
                ("国家助学贷款还款手续未办理", "National student loan repayment not arranged")],
    "library": [("未归还图书 {册数} 册", "{number} library books not returned"),
                ("欠图书馆罚款 {金额} 元", "Library fines of {amount} yuan unpaid"),
                ("未提交学位论文", "Thesis not deposited")],
    "student_affairs": [("学生证未上交", "Student ID card not handed in"),
                        ("生源地助学贷款尚未在国家开发银行确认还款", "Origin-place loan repayment not confirmed with the China Development Bank")],
    "utilities": [("欠电费 {金额} 元", "Electricity bill of {amount} yuan unpaid"),
                  ("寝室电费未结清，请寝室代表统一缴清", "The room's electricity bill is not settled; the room representative pays it for all")],
    "dormitory": [("宿舍物品未清理", "Dormitory not cleared"),
                  ("钥匙未交还", "Keys not returned"),
                  ("未交《毕业生文明退宿承诺书》", "Move-out pledge form not handed in"),
                  ("宿舍公物损坏，需赔偿 {金额} 元", "Damaged dormitory property: {amount} yuan to pay")],
    "network": [("未归还交换机", "Network switch not returned")],
    "finance": [("欠学杂费 {金额} 元", "Tuition and fees of {amount} yuan unpaid"),
                ("财务借款 {金额} 元未结清", "Finance loan of {amount} yuan not settled")],
    "lab_equipment": [("未归还实验设备：{设备名称}", "Laboratory equipment not returned: {equipment}")],
    "state_key_lab": [("欠测试费 {金额} 元", "Testing fees of {amount} yuan unpaid")],
    "hospital": [("欠住院费用 {金额} 元", "Hospital fees of {amount} yuan unpaid")],
    "employment": [("未填报就业方案", "Employment plan not submitted"),
                   ("就业方案信息有误：{原因}", "Employment plan incorrect: {reason}")],
    "college_student_work": [("未提交毕业生登记表", "Graduate registration form not submitted"),
                             ("团组织关系未转接", "League membership not transferred")],
    "graduate_secretary": [("答辩纸质材料未归档", "Defence papers not archived"),
                           ("未提交入学登记表", "Enrolment form not submitted")],
    "certificates": [("前置离校手续未完成", "Earlier clearance items are not done"),
                     ("本人未到场且无委托书", "Not present in person and no letter of authorisation")],
    "academic_affairs": [("暂缓发放的原因尚未消除：{原因}", "The reason for holding back is not cleared: {reason}")],
    "graduate_school": [("学位证书尚未制作完成", "The degree certificate is not ready yet")],
}
