// Labels of the dashboard in Vietnamese (default) and English.
"use strict";

const LABELS = {
  vi: {
    subtitle: "Trung tâm điều khiển tín hiệu giao thông Đồng Nai",
    login_title: "Đăng nhập", token: "Mã truy cập", login: "Đăng nhập", logout: "Đăng xuất",
    bad_token: "Mã truy cập không hợp lệ.",
    map: "Sơ đồ nút giao", junction: "Nút giao", mode: "Chế độ", phase: "Pha",
    in_stage: "Thời gian trong bước", plan: "Kế hoạch (xanh, giây)", cycle: "Chu kỳ",
    delay: "Trễ trung bình", vehicles: "Số xe trên mạng", sim_time: "Thời gian mô phỏng",
    chart: "Trễ (s) và hàng chờ dài nhất (m)", editor: "Chỉnh kế hoạch",
    preview: "Xem trước (SUMO)", submit: "Gửi kế hoạch", ask_optimizer: "Đề xuất tối ưu",
    go_adaptive: "Về thích ứng", pending: "Chờ phê duyệt", history: "Lịch sử kế hoạch",
    what: "Nội dung", by: "Người đề xuất", status: "Trạng thái", applied: "Áp dụng (s)",
    incidents: "Sự cố và vi phạm", approve: "Duyệt", reject: "Từ chối", ack: "Xác nhận",
    acknowledged: "đã xác nhận bởi", no_incidents: "Chưa có sự cố.",
    none_pending: "Không có thay đổi chờ duyệt.",
    adaptive: "thích ứng", manual: "thủ công", schedule: "theo lịch",
    green: "xanh", yellow: "vàng", all_red: "đỏ toàn bộ",
    pending_s: "chờ duyệt", approved: "đã duyệt", rejected: "bị từ chối",
    applied_s: "đã áp dụng", queue: "hàng chờ dài nhất",
    sent_pending: "Đã gửi; chờ giám sát viên phê duyệt.",
    sent_approved: "Đã duyệt; sẽ áp dụng từ chu kỳ tiếp theo.",
    refused: "Bị từ chối", forbidden: "Không có quyền",
    preview_running: "Đang chạy mô phỏng…", current: "Hiện tại", candidate: "Đề xuất",
    mean_loss: "trễ TB", trips: "xe", reason: "Lý do từ chối?",
    seconds: "giây", phase_label: "Pha",
  },
  en: {
    subtitle: "Đồng Nai traffic signal centre",
    login_title: "Log in", token: "Access token", login: "Log in", logout: "Log out",
    bad_token: "That token is not valid.",
    map: "Junction map", junction: "Junction", mode: "Mode", phase: "Phase",
    in_stage: "Time in stage", plan: "Plan (greens, s)", cycle: "Cycle",
    delay: "Mean delay", vehicles: "Vehicles in network", sim_time: "Simulated time",
    chart: "Delay (s) and longest queue (m)", editor: "Plan editor",
    preview: "Preview (SUMO)", submit: "Submit plan", ask_optimizer: "Optimizer proposal",
    go_adaptive: "Back to adaptive", pending: "Awaiting approval", history: "Plan history",
    what: "Change", by: "Proposed by", status: "Status", applied: "Applied (s)",
    incidents: "Incidents and violations", approve: "Approve", reject: "Reject",
    ack: "Acknowledge", acknowledged: "acknowledged by", no_incidents: "No incidents yet.",
    none_pending: "Nothing awaits approval.",
    adaptive: "adaptive", manual: "manual", schedule: "schedule",
    green: "green", yellow: "yellow", all_red: "all red",
    queue: "longest queue", pending_s: "pending", approved: "approved", rejected: "rejected",
    applied_s: "applied",
    sent_pending: "Sent; awaiting a supervisor's approval.",
    sent_approved: "Approved; runs from the next cycle.",
    refused: "Refused", forbidden: "Not allowed",
    preview_running: "Running the simulation…", current: "Current", candidate: "Proposed",
    mean_loss: "mean delay", trips: "vehicles", reason: "Reason for rejecting?",
    seconds: "s", phase_label: "Phase",
  },
};

let language = localStorage.getItem("nhip-lang") || "vi";

function t(key) {
  return (LABELS[language] && LABELS[language][key]) || LABELS.en[key] || key;
}

function applyLabels() {
  document.documentElement.lang = language;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  document.getElementById("lang").textContent = language === "vi" ? "EN" : "VI";
}

function toggleLanguage() {
  language = language === "vi" ? "en" : "vi";
  localStorage.setItem("nhip-lang", language);
  applyLabels();
}
