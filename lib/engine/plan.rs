//! A service's plan on this node: the steps of a start or a stop still to run, the one under
//! way, what this start brought up (a failed start undoes only that), where a stop leads, and
//! what each step's result means for the plan. Whether a plan begins, and what a failure
//! leads to (restart or ERROR), is `lifecycle`.

use super::interface::{AgentId, Step, TaskId};
use crate::config::Service;
use std::collections::{BTreeMap, VecDeque};

/// Where a stop plan leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterStop {
    /// Left as it is: out, standby or shut down, as the intent says.
    Rest,
    /// A local restart: start again.
    Restart,
    /// Failed for good here.
    Error,
}

/// What a step's result means (`Plan::step_done`).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Go on with the plan.
    Next,
    /// A volume came off: go on, and it is no longer stuck.
    Unmounted,
    /// A step of a start, or of a running service, failed: that is a failure of the service.
    Failed(String),
    /// The stop script failed for the first time in this stop: it runs once more.
    StopRetried(String),
    /// A volume would not unmount: the stop leads to ERROR, and the volume may still be
    /// mounted here.
    VolumeStuck(String),
    /// Another step of a stop failed: the stop goes on.
    StopGoesOn(String),
}

#[derive(Clone, Debug)]
pub(super) struct Plan {
    steps: VecDeque<Step>,
    /// The step under way, and its task (0: one the executor reports without a task).
    inflight: Option<(Step, TaskId)>,
    pub after: AfterStop,
    /// A start plan brings up what is listed here, so a failed start stops only that.
    started: Vec<Step>,
    /// The stop script failed once in this stop; it gets one more try.
    stop_retried: bool,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            steps: VecDeque::new(),
            inflight: None,
            after: AfterStop::Rest,
            started: Vec::new(),
            stop_retried: false,
        }
    }
}

impl Plan {
    /// A step is under way or waiting.
    pub(super) fn busy(&self) -> bool {
        self.inflight.is_some() || !self.steps.is_empty()
    }

    pub(super) fn in_flight(&self) -> Option<Step> {
        self.inflight.map(|(step, _)| step)
    }

    /// The steps still to run (for the status dump).
    pub(super) fn steps(&self) -> &VecDeque<Step> {
        &self.steps
    }

    /// Steps waiting that have not begun (one adopted from a previous hasvrd, say).
    pub(super) fn waiting(&self) -> bool {
        !self.steps.is_empty()
    }

    /// A new plan: these steps, leading to `after`. A start forgets what an earlier start
    /// brought up.
    pub(super) fn begin(&mut self, steps: VecDeque<Step>, after: AfterStop, starting: bool) {
        self.steps = steps;
        self.after = after;
        self.stop_retried = false;
        if starting {
            self.started.clear();
        }
    }

    /// The next step, unless one is under way.
    pub(super) fn next(&mut self) -> Option<Step> {
        if self.inflight.is_some() {
            return None;
        }
        self.steps.pop_front()
    }

    pub(super) fn under_way(&mut self, step: Step, task: TaskId) {
        self.inflight = Some((step, task));
    }

    /// The step under way is over (its result is judged by `step_done`).
    pub(super) fn finished(&mut self) -> Option<Step> {
        self.inflight.take().map(|(step, _)| step)
    }

    /// If `step` is the one under way, it is over; says whether it was.
    pub(super) fn finished_if(&mut self, step: Step) -> bool {
        let was = self.in_flight() == Some(step);
        if was {
            self.inflight = None;
        }
        was
    }

    /// The agent of a start reported its pid: its step is done and counts as brought up.
    pub(super) fn agent_started(&mut self) -> bool {
        let was = self.finished_if(Step::StartAgent);
        if was {
            self.started.push(Step::StartAgent);
        }
        was
    }

    /// A stop is over: nothing of a start is up any more.
    pub(super) fn stopped(&mut self) {
        self.started.clear();
    }

    /// Stopped and nothing waits: a volume stuck while this node is being fenced keeps
    /// the service as it is.
    pub(super) fn drop_steps(&mut self) {
        self.steps.clear();
    }

    /// Adopted from a previous hasvrd: running, with everything of a start up.
    pub(super) fn adopt_running(&mut self, cfg: &Service) {
        self.started = start_plan(cfg);
    }

    /// Adopted from a previous hasvrd that stopped we do not know where in a plan: stop all.
    pub(super) fn adopt_stopping(&mut self, cfg: &Service, agent: bool) {
        self.steps = stop_plan(cfg, agent).into();
    }

    /// The stop after a failure: all of it for a running service; for a start, only what it
    /// brought up (and the stop script and the agent), in reverse. What was up is forgotten.
    pub(super) fn undo(&mut self, cfg: &Service, agent: bool, starting: bool) -> VecDeque<Step> {
        let started = std::mem::take(&mut self.started);
        let all = stop_plan(cfg, agent);
        if !starting {
            return all.into();
        }
        all.into_iter()
            .filter(|st| match st {
                Step::StopScript | Step::StopAgent => true,
                Step::DelIps => started.contains(&Step::AddIps),
                Step::Umount(i) => started.contains(&Step::Mount(*i)),
                _ => false,
            })
            .collect()
    }

    /// What the result of `step` means, in a start (`starting`), a running service's
    /// change (`running`) or a stop.
    pub(super) fn step_done(
        &mut self,
        step: Step,
        result: Result<(), String>,
        starting: bool,
        running: bool,
    ) -> Outcome {
        match result {
            Ok(()) if starting => {
                self.started.push(step);
                Outcome::Next
            }
            Err(why) if starting || running => Outcome::Failed(why),
            Ok(()) if matches!(step, Step::Umount(_)) => Outcome::Unmounted,
            Ok(()) => Outcome::Next,
            Err(why) if step == Step::StopScript && !self.stop_retried => {
                self.stop_retried = true;
                self.steps.push_front(Step::StopScript);
                Outcome::StopRetried(why)
            }
            Err(why) if matches!(step, Step::Umount(_)) => {
                self.after = AfterStop::Error;
                Outcome::VolumeStuck(why)
            }
            Err(why) => Outcome::StopGoesOn(why),
        }
    }
}

/// The tasks handed to the executor and whose service each is for, and the next ids of tasks
/// and agents.
#[derive(Clone, Debug)]
pub(super) struct Tasks {
    next_task: TaskId,
    next_agent: AgentId,
    owners: BTreeMap<TaskId, String>,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            next_task: 1,
            next_agent: 1,
            owners: BTreeMap::new(),
        }
    }
}

impl Tasks {
    /// A new task of `service`.
    pub(super) fn task_for(&mut self, service: &str) -> TaskId {
        let task = self.next_task;
        self.next_task += 1;
        self.owners.insert(task, service.to_string());
        task
    }

    pub(super) fn new_agent(&mut self) -> AgentId {
        let id = self.next_agent;
        self.next_agent += 1;
        id
    }

    /// The service of a task that is over (`None`: not one of ours, or told twice).
    pub(super) fn done(&mut self, task: TaskId) -> Option<String> {
        self.owners.remove(&task)
    }

    pub(super) fn len(&self) -> usize {
        self.owners.len()
    }
}

/// Volumes, addresses, start script, agent.
pub fn start_plan(cfg: &Service) -> Vec<Step> {
    let mut p: Vec<Step> = (0..cfg.volumes.len()).map(Step::Mount).collect();
    p.push(Step::AddIps);
    p.push(Step::StartScript);
    if cfg.agent.is_some() {
        p.push(Step::StartAgent);
    }
    p
}

/// The reverse: agent, stop script, addresses, volumes.
pub fn stop_plan(cfg: &Service, agent: bool) -> Vec<Step> {
    let mut p = Vec::new();
    if agent {
        p.push(Step::StopAgent);
    }
    p.push(Step::StopScript);
    p.push(Step::DelIps);
    p.extend((0..cfg.volumes.len()).rev().map(Step::Umount));
    p
}

#[cfg(test)]
mod tests {
    use super::{start_plan, stop_plan, AfterStop, Outcome, Plan};
    use crate::config::{self, Service, Volume};
    use crate::engine::interface::Step;
    use crate::engine::tests::svc;

    /// web with an agent and two volumes.
    fn web() -> Service {
        let cfg = config::parse("t", &svc("")).unwrap();
        let mut web = cfg.service("web").unwrap().clone();
        for m in ["/m0", "/m1"] {
            web.volumes.push(Volume {
                active_dev: "/dev/a".into(),
                backup_dev: "/dev/b".into(),
                mount_point: m.into(),
            });
        }
        web
    }

    /// Runs the plan's steps with every result `Ok`, as a start or a stop.
    fn run_all(p: &mut Plan, starting: bool) -> Vec<Step> {
        let mut ran = Vec::new();
        for task in 1..100 {
            let Some(step) = p.next() else { break };
            p.under_way(step, task);
            assert_eq!(p.next(), None, "one step at a time");
            assert_eq!(p.finished(), Some(step));
            p.step_done(step, Ok(()), starting, false);
            ran.push(step);
        }
        ran
    }

    #[test]
    fn a_start_brings_up_volumes_addresses_script_agent_and_a_stop_takes_them_down_in_reverse() {
        use Step::*;
        let web = web();
        assert_eq!(
            start_plan(&web),
            [Mount(0), Mount(1), AddIps, StartScript, StartAgent]
        );
        assert_eq!(
            stop_plan(&web, true),
            [StopAgent, StopScript, DelIps, Umount(1), Umount(0)]
        );
        assert_eq!(stop_plan(&web, false)[0], StopScript, "no agent to stop");
        let mut p = Plan::default();
        assert!(!p.busy());
        p.begin(start_plan(&web).into(), AfterStop::Rest, true);
        assert!(p.busy() && p.waiting());
        assert_eq!(run_all(&mut p, true), start_plan(&web));
        assert!(!p.busy());
    }

    #[test]
    fn a_failed_start_undoes_only_what_it_brought_up() {
        use Step::*;
        let web = web();
        let mut p = Plan::default();
        p.begin(start_plan(&web).into(), AfterStop::Rest, true);
        for (task, step) in [Mount(0), Mount(1)].into_iter().enumerate() {
            assert_eq!(p.next(), Some(step));
            p.under_way(step, task as u64 + 1);
            p.finished();
            assert_eq!(p.step_done(step, Ok(()), true, false), Outcome::Next);
        }
        assert_eq!(p.next(), Some(AddIps));
        p.under_way(AddIps, 3);
        p.finished();
        assert_eq!(
            p.step_done(AddIps, Err("no NIC".into()), true, false),
            Outcome::Failed("no NIC".into())
        );
        let undo = p.undo(&web, false, true);
        assert_eq!(Vec::from(undo), [StopScript, Umount(1), Umount(0)]);
        // What was up is forgotten: a second failure undoes nothing more than the scripts.
        assert_eq!(Vec::from(p.undo(&web, true, true)), [StopAgent, StopScript]);
        // A running service stops all of it.
        assert_eq!(Vec::from(p.undo(&web, true, false)), stop_plan(&web, true));
    }

    #[test]
    fn the_stop_script_gets_one_more_try_then_the_stop_goes_on() {
        let web = web();
        let mut p = Plan::default();
        p.begin(stop_plan(&web, false).into(), AfterStop::Rest, false);
        let step = p.next().unwrap();
        assert_eq!(step, Step::StopScript);
        p.under_way(step, 1);
        p.finished();
        assert_eq!(
            p.step_done(step, Err("exit 1".into()), false, false),
            Outcome::StopRetried("exit 1".into())
        );
        assert_eq!(p.next(), Some(Step::StopScript), "tried again first");
        assert_eq!(
            p.step_done(step, Err("exit 1".into()), false, false),
            Outcome::StopGoesOn("exit 1".into())
        );
        assert_eq!(p.next(), Some(Step::DelIps));
        assert_eq!(
            p.step_done(Step::DelIps, Err("gone".into()), false, false),
            Outcome::StopGoesOn("gone".into())
        );
        // A new stop gives the script its second try again.
        p.begin(stop_plan(&web, false).into(), AfterStop::Rest, false);
        let step = p.next().unwrap();
        assert!(matches!(
            p.step_done(step, Err("x".into()), false, false),
            Outcome::StopRetried(_)
        ));
    }

    #[test]
    fn a_volume_that_will_not_unmount_leads_the_stop_to_error() {
        let mut p = Plan::default();
        p.begin(
            vec![Step::Umount(1), Step::Umount(0)].into(),
            AfterStop::Restart,
            false,
        );
        let step = p.next().unwrap();
        assert_eq!(
            p.step_done(step, Err("busy".into()), false, false),
            Outcome::VolumeStuck("busy".into())
        );
        assert_eq!(p.after, AfterStop::Error);
        p.drop_steps();
        assert!(!p.busy());
        p.begin(vec![Step::Umount(0)].into(), AfterStop::Rest, false);
        let step = p.next().unwrap();
        assert_eq!(p.step_done(step, Ok(()), false, false), Outcome::Unmounted);
    }

    #[test]
    fn a_running_services_step_that_fails_is_a_failure_and_an_agent_counts_once_its_pid_is_known() {
        let web = web();
        let mut p = Plan::default();
        // The local NIC failover's plan, on a running service.
        p.begin(
            vec![Step::DelIps, Step::AddIps].into(),
            AfterStop::Rest,
            false,
        );
        let step = p.next().unwrap();
        assert_eq!(p.step_done(step, Ok(()), false, true), Outcome::Next);
        let step = p.next().unwrap();
        assert_eq!(
            p.step_done(step, Err("x".into()), false, true),
            Outcome::Failed("x".into())
        );
        // An agent's step is under way until its pid comes.
        let mut p = Plan::default();
        p.begin(vec![Step::StartAgent].into(), AfterStop::Rest, true);
        let step = p.next().unwrap();
        p.under_way(step, 0);
        assert!(!p.finished_if(Step::StopAgent), "another step is not it");
        assert!(p.busy());
        assert!(p.agent_started());
        assert!(!p.agent_started(), "only once");
        assert_eq!(
            Vec::from(p.undo(&web, true, true)),
            [Step::StopAgent, Step::StopScript]
        );
    }
}
